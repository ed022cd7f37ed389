"""The bundled demo store: its fixtures are Shopify-shaped and cover what support meets, and
`DemoShop` answers with ShopifyShop's semantics (ownership, search, store changes)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.store.demo import ANCHOR, DemoShop, fixture_nodes
from app.store.models import Address, Order, OrderStatus, PolicyKind, same_mailbox
from app.store.protocol import Shop, ShopQueryError
from app.store.shopify import ShopifyGraphQL, ShopifyShop, StaticToken, order_from_node
from app.store.shopify.queries import CUSTOMER_QUERY, ORDER_FIELDS, POLICIES_QUERY, PRODUCTS_QUERY
from app.tools.customers import Segment, segment_for
from tests.store.demo_nodes import DemoNodes, every_order, graphql_response

SAMPLES = Path(__file__).parents[2] / "app" / "demo" / "samples"
CARRIER_HOSTS = {"www.dhl.de", "www.ups.com", "tools.usps.com", "www.royalmail.com"}
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DECIMAL = re.compile(r"\d+\.\d+")

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

NEW_ADDRESS = Address(
    name="Oliver Smith",
    address1="4 Harbour View",
    address2=None,
    city="Bristol",
    province_code=None,
    zip="BS1 6XN",
    country_code="GB",
)


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


async def own_order(shop: DemoShop, number: str, email: str) -> Order:
    order = await shop.find_order(number, customer_email=email)
    assert order is not None, f"#{number} should belong to {email}"
    return order


FIXTURES = DemoNodes(ANCHOR)
"""The fixtures' raw nodes as a `DemoShop(now=ANCHOR)` starts with them."""


def orders_by_name() -> dict[str, Order]:
    return {order.name: order for order in map(order_from_node, FIXTURES.order_nodes())}


# --- The GraphQL selections, parsed: the fixtures must have exactly these fields --------------

Tree = dict[str, "Tree | None"]
_TOKEN = re.compile(r"\.\.\.|[A-Za-z_]\w*|\$|[(){}:!\[\],=]|\"[^\"]*\"|-?\d+")
LIST_FIELDS = {"nodes", "fulfillments", "trackingInfo", "refunds", "shopPolicies"}
"""Fields that are plain lists in the Admin API; every other object field is an object."""


def selection(graphql: str, *path: str) -> Tree:
    """The selection set of a query or fragment, as nested dicts (leaves are None)."""
    tokens = _TOKEN.findall(graphql)
    tree, _ = _parse_set(tokens, tokens.index("{"))
    for name in path:
        sub = tree[name]
        assert sub is not None
        tree = sub
    return tree


def _parse_set(tokens: list[str], i: int) -> tuple[Tree, int]:
    assert tokens[i] == "{"
    i += 1
    tree: Tree = {}
    while tokens[i] != "}":
        name = tokens[i]
        assert name != "...", "fragment spreads are not expected in these selections"
        i += 1
        if tokens[i] == "(":
            depth = 0
            while True:
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
                i += 1
                if depth == 0:
                    break
        sub: Tree | None = None
        if tokens[i] == "{":
            sub, i = _parse_set(tokens, i)
        tree[name] = sub
    return tree, i + 1


def assert_shape(value: Any, tree: Tree | None, where: str) -> None:
    """`value` has exactly the fields of `tree`, lists exactly where the API has lists."""
    if tree is None:
        assert not isinstance(value, dict | list), f"{where} should be a scalar"
        return
    if value is None:
        return
    assert isinstance(value, dict), f"{where} should be an object"
    assert set(value) == set(tree), f"{where}: differs in {sorted(set(value) ^ set(tree))}"
    for key, sub in tree.items():
        child = value[key]
        if key in LIST_FIELDS:
            assert isinstance(child, list), f"{where}.{key} should be a list"
            for index, item in enumerate(child):
                assert_shape(item, sub, f"{where}.{key}[{index}]")
        else:
            assert_shape(child, sub, f"{where}.{key}")


def test_the_selection_parser_reads_nested_connections_and_skips_arguments() -> None:
    tree = selection(CUSTOMER_QUERY, "customers", "nodes")
    assert tree["orders"] == {"nodes": {"createdAt": None}}
    assert tree["numberOfOrders"] is None
    with pytest.raises(AssertionError, match="differs"):
        assert_shape({"id": "x"}, {"id": None, "name": None}, "node")
    with pytest.raises(AssertionError, match="should be a list"):
        assert_shape({"nodes": {}}, {"nodes": {"id": None}}, "connection")


def test_orders_have_exactly_the_order_fields_fragment_shape() -> None:
    tree = selection(ORDER_FIELDS)
    for node in FIXTURES.order_nodes():
        assert_shape(node, tree, str(node["name"]))


def test_customers_have_exactly_the_customer_query_shape() -> None:
    tree = selection(CUSTOMER_QUERY, "customers", "nodes")
    for node in FIXTURES.customer_nodes():
        assert_shape(node, tree, str(node["displayName"]))


def test_products_have_exactly_the_products_query_shape() -> None:
    tree = selection(PRODUCTS_QUERY, "products", "nodes")
    for node in FIXTURES.product_nodes():
        assert_shape(node, tree, str(node["title"]))


def test_the_shop_has_exactly_the_policies_query_shape() -> None:
    assert_shape(FIXTURES.shop_node(), selection(POLICIES_QUERY, "shop"), "shop")


def _leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, k)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item, key)]
    return [(key, value)]


def test_scalars_are_typed_as_shopify_sends_them() -> None:
    everything = FIXTURES.order_nodes() + FIXTURES.customer_nodes() + FIXTURES.product_nodes()
    leaves = _leaves(everything) + _leaves(FIXTURES.shop_node())
    checked = Counter[str]()
    for key, value in leaves:
        if key.endswith("At") and value is not None:
            assert isinstance(value, str), (key, value)
            assert ISO_Z.fullmatch(value), (key, value)
        elif key in ("amount", "price"):
            assert isinstance(value, str), (key, value)
            assert DECIMAL.fullmatch(value), (key, value)
        elif key in ("quantity", "currentQuantity", "inventoryQuantity", "totalInventory"):
            assert type(value) is int, (key, value)
            assert value >= 0, (key, value)
        elif key == "numberOfOrders":
            # UnsignedInt64 travels as a JSON string.
            assert isinstance(value, str), value
            assert value.isdigit(), value
        elif key == "currencyCode":
            assert value == "EUR"
        elif key == "id":
            assert isinstance(value, str)
            assert re.fullmatch(r"gid://shopify/[A-Za-z]+/\d+", value)
        elif key == "availableForSale":
            assert isinstance(value, bool)
        else:
            continue
        checked[key] += 1
    assert {"createdAt", "amount", "price", "quantity", "numberOfOrders", "id"} <= set(checked)


# --- What the fixtures cover -------------------------------------------------------------------


def test_thirty_orders_numbered_1001_to_1030_within_400_days_before_the_anchor() -> None:
    orders = orders_by_name()
    assert sorted(orders) == [f"#{n}" for n in range(1001, 1031)]
    for order in orders.values():
        assert order.id == f"gid://shopify/Order/{int(order.id.rsplit('/', 1)[1])}"
        assert timedelta(0) < ANCHOR - order.created_at < timedelta(days=400), order.name
        assert order.total.currency == "EUR"
        assert order.items, order.name


def test_every_order_status_occurs() -> None:
    statuses = Counter(order.status for order in orders_by_name().values())
    assert set(statuses) == set(OrderStatus), set(OrderStatus) - set(statuses)


def test_the_order_scenarios_support_meets() -> None:
    orders = orders_by_name()
    financial = Counter(order.financial_status for order in orders.values())
    assert {"PAID", "AUTHORIZED", "REFUNDED", "PARTIALLY_REFUNDED", "VOIDED"} <= set(financial)
    cancelled = [o for o in orders.values() if o.status is OrderStatus.CANCELLED]
    assert {o.financial_status for o in cancelled} == {"REFUNDED", "VOIDED"}
    assert all(o.cancelled_at is not None for o in cancelled)
    refunded = [o for o in orders.values() if o.status is OrderStatus.REFUNDED]
    assert refunded
    assert all(o.refunds for o in refunded)
    partially = [o for o in orders.values() if o.financial_status == "PARTIALLY_REFUNDED"]
    assert any(o.status is OrderStatus.DELIVERED and o.refunds for o in partially)
    assert any(o.return_status == "RETURNED" for o in orders.values())
    assert any(o.return_status == "RETURN_REQUESTED" and o.returns for o in orders.values())
    undelivered = [
        s for o in orders.values() for s in o.shipments if s.delivered_at is None and s.tracking
    ]
    assert undelivered
    assert all(s.estimated_delivery_at for s in undelivered)
    # One order was marked fulfilled with no carrier events at all: "shipped".
    assert orders["#1029"].status is OrderStatus.SHIPPED
    assert all(
        s.delivered_at for o in orders.values() for s in o.shipments if s.status == "DELIVERED"
    )


def test_tracking_links_are_https_pages_of_real_carriers() -> None:
    tracking = [t for o in orders_by_name().values() for s in o.shipments for t in s.tracking]
    assert tracking
    for parcel in tracking:
        assert parcel.company
        assert parcel.number
        assert parcel.url
        url = urlsplit(parcel.url)
        assert url.scheme == "https", parcel.url
        assert url.hostname in CARRIER_HOSTS, parcel.url
        assert parcel.number in parcel.url
    assert len({urlsplit(t.url or "").hostname for t in tracking}) >= 3


def test_the_orders_the_sample_emails_ask_about() -> None:
    orders = orders_by_name()
    sara = orders["#1001"]
    assert sara.belongs_to(SARA)
    assert sara.status is OrderStatus.IN_TRANSIT
    assert sara.shipments[0].tracking
    assert "Linen Shirt" in sara.items[0].title
    reza = orders["#1005"]
    assert reza.belongs_to(REZA)
    assert reza.status is OrderStatus.DELAYED
    assert reza.shipments[0].status == "DELAYED"
    lucia = orders["#1003"]
    assert lucia.belongs_to(LUCIA)
    assert lucia.status is OrderStatus.DELIVERED
    assert any("Bag" in item.title for item in lucia.items)
    lena = orders["#1007"]
    assert lena.belongs_to(LENA)
    assert lena.status is OrderStatus.DELIVERED
    assert "Shoes" in lena.items[0].title
    assert orders["#1004"].belongs_to(JONAS)
    assert orders["#1004"].status is OrderStatus.OUT_FOR_DELIVERY
    # Lena's hidden text asks to refund #1002: it exists, and it is someone else's.
    assert not orders["#1002"].belongs_to(LENA)


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("Sara Ahmadi", SARA),
        ("Reza Mohammadi", REZA),
        ("Lucía García", LUCIA),
        ("Lena Fischer", LENA),
        ("Tom Baker", TOM),
        ("Jonas Weber", JONAS),
    ],
)
async def test_the_sample_senders_are_customers(shop: DemoShop, name: str, email: str) -> None:
    samples = "\n".join(p.read_text(encoding="utf-8") for p in SAMPLES.iterdir() if p.is_file())
    assert email in samples
    customer = await shop.get_customer(customer_email=email)
    assert customer is not None
    assert customer.name == name


def test_customer_emails_use_reserved_example_domains() -> None:
    emails = [str(n["defaultEmailAddress"]["emailAddress"]) for n in FIXTURES.customer_nodes()]
    emails += [str(n["email"]) for n in FIXTURES.order_nodes()]
    for email in emails:
        assert email.rsplit("@", 1)[1].lower().split(".")[0] == "example", email


def test_at_least_ten_customers_and_their_counters_match_their_orders() -> None:
    customers = FIXTURES.customer_nodes()
    orders = FIXTURES.order_nodes()
    assert len(customers) >= 10
    assert len({c["id"] for c in customers}) == len(customers)
    for customer in customers:
        own = sorted(
            (o for o in orders if o["customer"]["id"] == customer["id"]),
            key=lambda o: str(o["createdAt"]),
        )
        name = customer["displayName"]
        assert int(customer["numberOfOrders"]) == len(own), name
        if own:
            assert customer["lastOrder"] == {"createdAt": own[-1]["createdAt"]}, name
            assert customer["orders"]["nodes"] == [{"createdAt": own[0]["createdAt"]}], name
            assert customer["createdAt"] <= own[0]["createdAt"], name
        else:
            assert customer["lastOrder"] is None
            assert customer["orders"]["nodes"] == []
        spent = sum(
            (
                Decimal(o["totalPriceSet"]["shopMoney"]["amount"])
                - sum(
                    (Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in o["refunds"]),
                    Decimal(0),
                )
                for o in own
                if o["displayFinancialStatus"] != "VOIDED"
            ),
            Decimal(0),
        )
        assert Decimal(customer["amountSpent"]["amount"]) == spent, name
    # Every order is linked to a customer record with the same email (case aside).
    by_id = {c["id"]: c for c in customers}
    for order in orders:
        owner = by_id[order["customer"]["id"]]
        assert same_mailbox(order["email"], owner["defaultEmailAddress"]["emailAddress"])


async def test_customers_have_0_1_2_3_and_5_plus_orders_and_every_segment_occurs(
    shop: DemoShop,
) -> None:
    segments: dict[str, Segment] = {}
    counts: set[int] = set()
    for node in FIXTURES.customer_nodes():
        email = str(node["defaultEmailAddress"]["emailAddress"])
        customer = await shop.get_customer(customer_email=email)
        assert customer is not None
        segments[email] = segment_for(customer, now=ANCHOR)
        counts.add(customer.orders_count)
    assert {0, 1, 2, 3} <= counts
    assert max(counts) >= 5
    assert set(segments.values()) == set(Segment)
    assert segments[SARA] is Segment.CHAMPION
    assert segments[JONAS] is Segment.LOYAL  # five orders, but under 500 spent
    assert segments[EMMA] is Segment.AT_RISK
    assert segments[MARCO] is Segment.HIBERNATING  # two orders, the last over a year ago
    assert segments[SOFIA] is Segment.HIBERNATING  # one order, over 90 days ago
    assert segments[TOM] is Segment.NEW  # no orders
    assert segments[LUCIA] is Segment.NEW  # one recent order


def test_an_order_email_differs_in_case_and_one_uses_a_plus_tag() -> None:
    nodes = {n["name"]: n for n in FIXTURES.order_nodes()}
    upper = nodes["#1006"]
    assert upper["email"] == SARA.upper()
    assert upper["customer"]["defaultEmailAddress"]["emailAddress"] == SARA
    tagged = nodes["#1022"]
    assert tagged["email"] == SARA_TAGGED
    assert tagged["customer"]["defaultEmailAddress"]["emailAddress"] == SARA_TAGGED


def test_products_variants_prices_and_stock() -> None:
    nodes = FIXTURES.product_nodes()
    active = [n for n in nodes if n["status"] == "ACTIVE"]
    assert len(active) >= 20
    assert [n["title"] for n in nodes if n["status"] == "DRAFT"] == ["Linen Blazer"]
    titles = {n["title"] for n in active}
    assert {"Linen Shirt", "Canvas Tote", "Leather Derby Shoes"} <= titles
    sold_out = [
        (n["title"], v["title"])
        for n in active
        for v in n["variants"]["nodes"]
        if not v["availableForSale"]
    ]
    assert ("Canvas Tote", "Green") in sold_out
    assert len(sold_out) >= 5
    for node in nodes:
        variants = node["variants"]["nodes"]
        assert variants, node["title"]
        assert node["totalInventory"] == sum(v["inventoryQuantity"] for v in variants)
        for variant in variants:
            in_stock = variant["inventoryQuantity"] > 0
            assert variant["availableForSale"] == (in_stock and node["status"] == "ACTIVE")
    assert any(len(n["variants"]["nodes"]) >= 6 for n in active)  # sizes x colours


async def test_policies_cover_refunds_shipping_and_contact_as_plain_text(shop: DemoShop) -> None:
    policies = {p.kind: p for p in await shop.get_policies()}
    assert {PolicyKind.REFUND, PolicyKind.SHIPPING, PolicyKind.CONTACT} <= set(policies)
    for policy in policies.values():
        assert policy.title
        assert policy.url
        assert policy.url.startswith("https://demo-store.example/")
        assert "<" not in policy.text
        assert "&ndash;" not in policy.text
    assert "30 days" in policies[PolicyKind.REFUND].text
    assert "support@demo-store.example" in policies[PolicyKind.CONTACT].text


# --- Reads -------------------------------------------------------------------------------------


def test_demo_shop_is_a_shop() -> None:
    store: Shop = DemoShop(now=ANCHOR)  # mypy checks the protocol here
    assert isinstance(store, DemoShop)


async def test_find_order_returns_the_senders_own_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1001", SARA)
    assert order.name == "#1001"
    assert order.customer_name == "Sara Ahmadi"


async def test_someone_elses_order_is_indistinguishable_from_a_missing_one(
    shop: DemoShop,
) -> None:
    assert (await shop.find_order("1001", customer_email=SARA)) is not None
    others = await shop.find_order("1001", customer_email=LENA)
    missing = await shop.find_order("9999", customer_email=LENA)
    assert others is None
    assert missing is None
    assert others == missing


async def test_find_order_refuses_unnormalised_numbers_like_shopify_shop(shop: DemoShop) -> None:
    with pytest.raises(ValueError, match="normalised"):
        await shop.find_order("#1001", customer_email=SARA)


@pytest.mark.parametrize("sender", ["SARA.AHMADI@EXAMPLE.COM", "Sara.Ahmadi@Example.com", SARA])
async def test_ownership_is_case_insensitive(shop: DemoShop, sender: str) -> None:
    assert (await own_order(shop, "1001", sender)).name == "#1001"
    # #1006 was placed as SARA.AHMADI@EXAMPLE.COM.
    assert (await own_order(shop, "1006", sender)).email == SARA.upper()


async def test_a_plus_tag_address_is_a_different_mailbox(shop: DemoShop) -> None:
    assert await shop.find_order("1022", customer_email=SARA) is None
    assert (await own_order(shop, "1022", SARA_TAGGED)).name == "#1022"
    assert await shop.find_order("1001", customer_email=SARA_TAGGED) is None
    plain = await shop.list_orders(customer_email=SARA, limit=10)
    assert "#1022" not in [o.name for o in plain]
    tagged = await shop.get_customer(customer_email=SARA_TAGGED)
    customer = await shop.get_customer(customer_email=SARA)
    assert tagged is not None
    assert customer is not None
    assert tagged.id != customer.id


async def test_list_orders_is_newest_first_own_only_and_limited(shop: DemoShop) -> None:
    orders = await shop.list_orders(customer_email=SARA, limit=10)
    assert [o.name for o in orders] == ["#1001", "#1010", "#1006", "#1014", "#1019", "#1025"]
    assert all(o.belongs_to(SARA) for o in orders)
    created = [o.created_at for o in orders]
    assert created == sorted(created, reverse=True)
    assert [o.name for o in await shop.list_orders(customer_email=SARA, limit=2)] == [
        "#1001",
        "#1010",
    ]
    assert await shop.list_orders(customer_email=TOM, limit=5) == []
    assert await shop.list_orders(customer_email=SARA, limit=0) == []


async def test_get_customer_matches_the_whole_address_ignoring_case(shop: DemoShop) -> None:
    customer = await shop.get_customer(customer_email="  Lena@Example.DE ")
    assert customer is not None
    assert customer.name == "Lena Fischer"
    assert customer.orders_count == 3
    assert await shop.get_customer(customer_email="lena") is None
    assert await shop.get_customer(customer_email="example.de") is None
    assert await shop.get_customer(customer_email="nobody@example.com") is None


async def test_search_matches_every_word_of_the_title(shop: DemoShop) -> None:
    assert [p.title for p in await shop.search_products("linen shirt", limit=5)] == ["Linen Shirt"]
    assert [p.title for p in await shop.search_products("LINEN", limit=5)] == [
        "Linen Shirt",
        "Linen Trousers",
        "Linen Dress",
    ]
    assert [p.title for p in await shop.search_products("t-shirt", limit=5)] == [
        "Organic Cotton T-Shirt"
    ]
    assert [p.title for p in await shop.search_products("leather shoes", limit=5)] == [
        "Leather Derby Shoes"
    ]
    assert len(await shop.search_products("linen", limit=2)) == 2
    assert await shop.search_products("linen sofa", limit=5) == []


async def test_search_hides_draft_and_archived_products(shop: DemoShop) -> None:
    assert await shop.search_products("linen blazer", limit=5) == []
    assert await shop.search_products("blazer", limit=5) == []
    assert await shop.search_products("straw hat", limit=5) == []
    assert "Linen Blazer" not in [p.title for p in await shop.search_products("linen", limit=20)]


@pytest.mark.parametrize(
    "text", ["", "***", "status:DRAFT", "linen status:DRAFT", "title:*", "AND OR NOT", "*"]
)
async def test_search_syntax_cannot_widen_a_search(shop: DemoShop, text: str) -> None:
    assert await shop.search_products(text, limit=50) == []


async def test_search_results_carry_prices_and_stock(shop: DemoShop) -> None:
    (tote,) = await shop.search_products("canvas tote", limit=5)
    variants = {v.title: v for v in tote.variants}
    assert variants["Green"].available_for_sale is False
    assert variants["Green"].inventory_quantity == 0
    assert variants["Natural"].available_for_sale is True
    assert str(variants["Natural"].price) == "29.00 EUR"
    assert tote.url == "https://demo-store.example/products/canvas-tote"


# --- Time --------------------------------------------------------------------------------------


def _timestamps(value: Any) -> list[datetime]:
    return [
        datetime.fromisoformat(v.replace("Z", "+00:00"))
        for _, v in _leaves(value)
        if isinstance(v, str) and ISO_Z.fullmatch(v)
    ]


def test_every_timestamp_moves_with_now() -> None:
    base = DemoNodes(ANCHOR)
    later = DemoNodes(ANCHOR + timedelta(days=30))
    for before, after in [
        (base.order_nodes(), later.order_nodes()),
        (base.customer_nodes(), later.customer_nodes()),
    ]:
        old, new = _timestamps(before), _timestamps(after)
        assert len(old) == len(new) > 30
        assert all(b - a == timedelta(days=30) for a, b in zip(old, new, strict=True))
    assert base.product_nodes() == later.product_nodes()
    assert base.shop_node() == later.shop_node()


async def test_mapped_dates_move_with_now() -> None:
    base = await own_order(DemoShop(now=ANCHOR), "1001", SARA)
    later = await own_order(DemoShop(now=ANCHOR + timedelta(days=30)), "1001", SARA)
    assert later.created_at - base.created_at == timedelta(days=30)
    assert base.created_at == datetime(2026, 11, 17, 15, 1, 48, tzinfo=UTC)
    (shipment,) = later.shipments
    assert shipment.estimated_delivery_at == datetime(2026, 12, 21, 18, tzinfo=UTC)
    customer = await DemoShop(now=ANCHOR + timedelta(days=30)).get_customer(customer_email=SARA)
    assert customer is not None
    assert customer.last_order_at == later.created_at


async def test_segments_do_not_age_when_now_moves() -> None:
    when = ANCHOR + timedelta(days=400)
    shop = DemoShop(now=when)
    for email, segment in [(SARA, Segment.CHAMPION), (EMMA, Segment.AT_RISK)]:
        customer = await shop.get_customer(customer_email=email)
        assert customer is not None
        assert segment_for(customer, now=when) is segment


async def test_now_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC)
    shop = DemoShop()
    after = datetime.now(UTC)
    assert before <= shop.now <= after
    order = await own_order(shop, "1001", SARA)
    fixture_age = ANCHOR - datetime(2026, 11, 17, 15, 1, 48, tzinfo=UTC)
    assert abs((shop.now - order.created_at) - fixture_age) <= timedelta(seconds=1)
    assert all(ISO_Z.fullmatch(n["createdAt"]) for n in DemoNodes(shop.now).order_nodes())


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        DemoShop(now=datetime(2026, 11, 20, 12))  # noqa: DTZ001 - the point of the test


# --- Store changes -----------------------------------------------------------------------------


async def test_cancel_refunds_a_paid_unshipped_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="Ordered twice")
    assert result.ok
    assert result.summary == "#1002 cancellation started"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Job/")
    after = await own_order(shop, "1002", OLIVER)
    assert after.status is OrderStatus.CANCELLED
    assert after.cancelled_at == ANCHOR
    assert after.financial_status == "REFUNDED"
    assert [(r.amount, r.created_at) for r in after.refunds] == [(order.total, ANCHOR)]
    assert all(item.current_quantity == 0 for item in after.items)  # restocked


async def test_cancel_voids_an_authorised_payment(shop: DemoShop) -> None:
    order = await own_order(shop, "1009", FREYA)
    assert (await shop.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    after = await own_order(shop, "1009", FREYA)
    assert after.status is OrderStatus.CANCELLED
    assert after.financial_status == "VOIDED"
    assert after.refunds == ()


@pytest.mark.parametrize(
    ("number", "email", "error"),
    [
        ("1001", SARA, "orderId: Cannot cancel an order that has been fulfilled"),
        ("1008", PIOTR, "orderId: Cannot cancel an order that has been fulfilled"),
        ("1010", SARA, "orderId: Order has already been cancelled"),
    ],
)
async def test_cancel_refuses_shipped_or_cancelled_orders(
    shop: DemoShop, number: str, email: str, error: str
) -> None:
    before = await every_order(shop)
    order = await own_order(shop, number, email)
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not result.ok
    assert result.user_errors == (error,)
    assert result.summary == f"#{number} was not cancelled"
    assert await every_order(shop) == before


async def test_cancel_twice_fails_the_second_time(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    assert (await shop.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    again = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not again.ok
    assert again.user_errors == ("orderId: Order has already been cancelled",)


async def test_cancel_with_a_reason_shopify_does_not_know_is_a_query_error(
    shop: DemoShop,
) -> None:
    order = await own_order(shop, "1002", OLIVER)
    with pytest.raises(ShopQueryError):
        await shop.cancel_order(order, reason="because", staff_note="")


async def test_a_change_to_an_order_the_store_does_not_have_is_a_user_error(
    shop: DemoShop,
) -> None:
    order = (await own_order(shop, "1002", OLIVER)).model_copy(
        update={"id": "gid://shopify/Order/1"}
    )
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not result.ok
    assert result.user_errors == ("orderId: Order does not exist",)
    assert not (await shop.refund_order(order, note="")).ok
    assert not (await shop.request_return(order, item_titles=None, note="")).ok
    assert not (await shop.update_shipping_address(order, address=NEW_ADDRESS)).ok


async def test_return_of_a_delivered_item(shop: DemoShop) -> None:
    order = await own_order(shop, "1003", LUCIA)
    result = await shop.request_return(
        order, item_titles=["leather crossbody bag - tan "], note="Not my style"
    )
    assert result.ok
    assert result.summary == "return #1003-R1 requested"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Return/")
    after = await own_order(shop, "1003", LUCIA)
    assert after.status is OrderStatus.RETURN_IN_PROGRESS
    assert after.return_status == "RETURN_REQUESTED"
    assert [(r.name, r.status) for r in after.returns] == [("#1003-R1", "REQUESTED")]
    again = await shop.request_return(after, item_titles=None, note="")
    assert not again.ok


async def test_return_of_every_item_when_none_is_named(shop: DemoShop) -> None:
    order = await own_order(shop, "1007", LENA)
    assert (await shop.request_return(order, item_titles=None, note="Too small")).ok
    assert (await own_order(shop, "1007", LENA)).status is OrderStatus.RETURN_IN_PROGRESS


@pytest.mark.parametrize(
    ("number", "email", "items"),
    [
        ("1001", SARA, None),  # in transit, not delivered
        ("1002", OLIVER, None),  # not shipped
        ("1010", SARA, None),  # cancelled
        ("1017", "ana.costa@example.pt", None),  # a return is already open
        ("1013", LENA, None),  # refunded in full
        ("1003", LUCIA, ["Wool Overcoat - M"]),  # not in this order
    ],
)
async def test_return_refused_with_shopifys_answer(
    shop: DemoShop, number: str, email: str, items: list[str] | None
) -> None:
    before = await every_order(shop)
    result = await shop.request_return(
        await own_order(shop, number, email), item_titles=items, note=""
    )
    assert not result.ok
    assert result.user_errors == ("no returnable items matched",)
    assert result.summary == f"#{number} has nothing that can be returned"
    assert await every_order(shop) == before


async def test_address_change_before_shipping(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    result = await shop.update_shipping_address(order, address=NEW_ADDRESS)
    assert result.ok
    assert result.summary == "shipping address of #1002 updated"
    after = await own_order(shop, "1002", OLIVER)
    assert after.shipping_address == NEW_ADDRESS
    assert after.status is OrderStatus.PROCESSING


@pytest.mark.parametrize(
    ("number", "email", "error"),
    [
        (
            "1001",
            SARA,
            "shippingAddress: The shipping address cannot be changed after the order has shipped",
        ),
        (
            "1008",
            PIOTR,
            "shippingAddress: The shipping address cannot be changed after the order has shipped",
        ),
        ("1010", SARA, "shippingAddress: A cancelled order cannot be changed"),
    ],
)
async def test_address_change_refused_once_shipped_or_cancelled(
    shop: DemoShop, number: str, email: str, error: str
) -> None:
    before = await every_order(shop)
    order = await own_order(shop, number, email)
    result = await shop.update_shipping_address(order, address=NEW_ADDRESS)
    assert not result.ok
    assert result.user_errors == (error,)
    assert await every_order(shop) == before


async def test_refund_of_a_paid_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1007", LENA)
    result = await shop.refund_order(order, note="Shoes too small, kept as a gift")
    assert result.ok
    assert result.summary == "149.00 EUR refunded on #1007"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Refund/")
    after = await own_order(shop, "1007", LENA)
    assert after.status is OrderStatus.REFUNDED
    assert after.financial_status == "REFUNDED"
    (refund,) = after.refunds
    assert refund.amount == order.total
    assert refund.note == "Shoes too small, kept as a gift"
    again = await shop.refund_order(after, note="")
    assert not again.ok
    assert again.user_errors == ("no refundable transaction",)


async def test_refund_of_what_is_left_after_a_partial_refund(shop: DemoShop) -> None:
    order = await own_order(shop, "1014", SARA)
    result = await shop.refund_order(order, note="")
    assert result.ok
    assert result.summary == "128.00 EUR refunded on #1014"
    after = await own_order(shop, "1014", SARA)
    assert sum(r.amount.amount for r in after.refunds) == order.total.amount


@pytest.mark.parametrize(
    ("number", "email"),
    [("1013", LENA), ("1009", FREYA), ("1011", JONAS), ("1010", SARA)],
)
async def test_refund_refused_when_nothing_was_captured_or_is_left(
    shop: DemoShop, number: str, email: str
) -> None:
    before = await every_order(shop)
    result = await shop.refund_order(await own_order(shop, number, email), note="")
    assert not result.ok
    assert result.user_errors == ("no refundable transaction",)
    assert result.summary == f"nothing left to refund on #{number}"
    assert await every_order(shop) == before


async def test_each_instance_has_its_own_data() -> None:
    first, second = DemoShop(now=ANCHOR), DemoShop(now=ANCHOR)
    order = await own_order(first, "1002", OLIVER)
    assert (await first.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    assert (await own_order(first, "1002", OLIVER)).status is OrderStatus.CANCELLED
    assert (await own_order(second, "1002", OLIVER)).status is OrderStatus.PROCESSING
    assert (await own_order(DemoShop(now=ANCHOR), "1002", OLIVER)).status is (
        OrderStatus.PROCESSING
    )


async def test_changing_fixture_nodes_changes_neither_the_fixtures_nor_a_store() -> None:
    nodes = fixture_nodes("orders.json", now=ANCHOR)
    for node in nodes:
        node["cancelledAt"] = "2026-11-20T12:00:00Z"
    assert fixture_nodes("orders.json", now=ANCHOR) != nodes
    assert (await own_order(DemoShop(now=ANCHOR), "1002", OLIVER)).cancelled_at is None


# --- GraphQL-shaped responses: the same fixtures through the real client -----------------------


def test_graphql_response_wraps_data_with_the_cost_extension() -> None:
    body = graphql_response({"orders": {"nodes": []}})
    assert body == {
        "data": {"orders": {"nodes": []}},
        "extensions": {
            "cost": {
                "requestedQueryCost": 10,
                "actualQueryCost": 10,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1990.0,
                    "restoreRate": 100.0,
                },
            }
        },
    }
    lower = graphql_response({}, requested_cost=52, actual_cost=12)["extensions"]["cost"]
    assert lower["actualQueryCost"] == 12
    assert lower["throttleStatus"]["currentlyAvailable"] == 1988.0


def test_response_helpers_select_nodes() -> None:
    orders = FIXTURES.orders_response("#1001", "#1005")["data"]["orders"]["nodes"]
    assert [n["name"] for n in orders] == ["#1001", "#1005"]
    assert len(FIXTURES.orders_response()["data"]["orders"]["nodes"]) == 30
    customers = FIXTURES.customers_response("LENA@example.de")["data"]["customers"]["nodes"]
    assert [n["displayName"] for n in customers] == ["Lena Fischer"]
    products = FIXTURES.products_response("canvas tote")["data"]["products"]["nodes"]
    assert [n["title"] for n in products] == ["Canvas Tote"]
    assert FIXTURES.policies_response()["data"]["shop"]["currencyCode"] == "EUR"


def _fake_shopify(demo: DemoNodes, requests: list[dict[str, Any]]) -> httpx.MockTransport:
    """Shopify's side of the wire, answering from the demo fixtures (a rough search)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        query, variables = body["query"], body["variables"]
        search = str(variables.get("query", ""))
        if "SupportOrders" in query:
            if search.startswith("name:"):
                number = search.split()[0].removeprefix("name:")
                payload = demo.orders_response(f"#{number}")
            else:
                email = search.removeprefix("email:").strip('"')
                nodes = [
                    n
                    for n in demo.order_nodes()
                    if same_mailbox(n["email"], email)
                    or same_mailbox(n["customer"]["defaultEmailAddress"]["emailAddress"], email)
                ]
                payload = graphql_response({"orders": {"nodes": nodes[: variables["first"]]}})
        elif "SupportCustomer" in query:
            payload = demo.customers_response(search.removeprefix("email:").strip('"'))
        elif "SupportProducts" in query:
            payload = demo.products_response("Linen Shirt", "Canvas Tote")
        elif "SupportPolicies" in query:
            payload = demo.policies_response()
        elif "SupportCurrency" in query:
            payload = graphql_response({"shop": {"currencyCode": "EUR"}})
        else:
            return httpx.Response(400)
        return httpx.Response(200, json=payload)

    return httpx.MockTransport(answer)


async def test_shopify_shop_over_the_fixtures_answers_like_the_demo(shop: DemoShop) -> None:
    requests: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=_fake_shopify(DemoNodes(shop.now), requests)) as http:
        client = ShopifyGraphQL(
            endpoint="https://demo-store.myshopify.com/admin/api/2026-10/graphql.json",
            tokens=StaticToken("shpat_test"),
            http=http,
        )
        real = ShopifyShop(client)
        for number, email in [("1001", SARA), ("1001", LENA), ("1006", SARA), ("1022", SARA)]:
            assert await real.find_order(number, customer_email=email) == await shop.find_order(
                number, customer_email=email
            )
        for email, limit in [(SARA, 10), (SARA, 3), (JONAS, 5), (TOM, 5)]:
            assert await real.list_orders(customer_email=email, limit=limit) == (
                await shop.list_orders(customer_email=email, limit=limit)
            )
        for email in [SARA, SARA_TAGGED, TOM, "nobody@example.com"]:
            assert await real.get_customer(customer_email=email) == await shop.get_customer(
                customer_email=email
            )
        assert await real.get_policies() == await shop.get_policies()
        expected = await shop.search_products("linen shirt", limit=5)
        expected += await shop.search_products("canvas tote", limit=5)
        assert await real.search_products("linen shirt", limit=5) == expected
    assert requests[-1]["variables"] == {"query": "linen shirt status:ACTIVE", "first": 5}
