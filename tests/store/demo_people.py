"""Who is who in the demo fixtures: the customers the store tests ask about."""

from __future__ import annotations

from app.store.demo import DemoShop
from app.store.models import Order

SARA = "sara.ahmadi@example.com"
SARA_TAGGED = "sara.ahmadi+sale@example.com"
REZA = "reza@example.ir"
LUCIA = "lucia@example.es"
LENA = "lena@example.de"
TOM = "tom@example.co.uk"
JONAS = "jonas.weber@example.net"
OLIVER = "oliver.smith@example.org"
EMMA = "emma.dubois@example.fr"
MARCO = "marco.rossi@example.it"
SOFIA = "sofia.jansen@example.nl"
FREYA = "freya.nielsen@example.dk"
PIOTR = "piotr.nowak@example.pl"


async def own_order(shop: DemoShop, number: str, email: str) -> Order:
    """The order `number`, which must belong to `email`."""
    order = await shop.find_order(number, customer_email=email)
    assert order is not None, f"#{number} should belong to {email}"
    return order
