"""The demo store's fixtures: Shopify-shaped (exactly the fields the queries select, typed as
Shopify sends them), and covering what support meets."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.store.demo import ANCHOR, DemoShop
from app.store.models import Order, OrderStatus, PolicyKind, same_mailbox
from app.store.segments import DEFAULT_CUTS, Segment, place_customer
from app.store.shopify import order_from_node
from app.store.shopify.queries import CUSTOMER_QUERY, ORDER_FIELDS, POLICIES_QUERY, PRODUCTS_QUERY
from tests.store.demo_nodes import DemoNodes, leaves
from tests.store.demo_people import (
    EMMA,
    JONAS,
    LENA,
    LUCIA,
    MARCO,
    REZA,
    SARA,
    SARA_TAGGED,
    SOFIA,
    TOM,
)

SAMPLES = Path(__file__).parents[2] / "app" / "demo" / "samples"
CARRIER_HOSTS = {"www.dhl.de", "www.ups.com", "tools.usps.com", "www.royalmail.com"}
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DECIMAL = re.compile(r"\d+\.\d+")


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


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


def test_scalars_are_typed_as_shopify_sends_them() -> None:
    everything = FIXTURES.order_nodes() + FIXTURES.customer_nodes() + FIXTURES.product_nodes()
    scalars = leaves(everything) + leaves(FIXTURES.shop_node())
    checked = Counter[str]()
    for key, value in scalars:
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


async def test_customers_have_0_1_2_3_and_5_plus_orders_and_most_segments_occur(
    shop: DemoShop,
) -> None:
    segments: dict[str, Segment] = {}
    counts: set[int] = set()
    for node in FIXTURES.customer_nodes():
        email = str(node["defaultEmailAddress"]["emailAddress"])
        customer = await shop.get_customer(customer_email=email)
        assert customer is not None
        segments[email] = place_customer(customer, DEFAULT_CUTS, now=ANCHOR).segment
        counts.add(customer.orders_count)
    assert {0, 1, 2, 3} <= counts
    assert max(counts) >= 5
    assert set(Segment) - set(segments.values()) == {Segment.NEEDS_ATTENTION}
    assert segments[SARA] is Segment.CHAMPIONS
    assert segments[JONAS] is Segment.LOYAL  # five orders, but spent in the middle fifth
    assert segments[EMMA] is Segment.AT_RISK
    assert segments[MARCO] is Segment.LOST  # two orders, the last over a year ago
    assert segments[SOFIA] is Segment.HIBERNATING  # one order, over 90 days ago
    assert segments[REZA] is Segment.PROMISING  # two orders, the last recent
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
