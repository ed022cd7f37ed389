"""`ShopifyShop`: the `Shop` protocol over the Admin GraphQL API.

It chooses the document and the variables for each question (`queries`), sends them through
`ShopifyGraphQL` (`client`), and maps the answer to our models (`mapping`). Ownership is checked
here, on our side: Shopify's search is fuzzy, so only exact owners' orders and customers pass.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.store.models import (
    ActionResult,
    Address,
    Basket,
    Customer,
    CustomerPage,
    Order,
    OrderStatus,
    Policy,
    Product,
    item_matches,
)
from app.store.shopify.client import ShopifyGraphQL
from app.store.shopify.mapping import (
    basket_from_node,
    connection_nodes,
    customer_from_node,
    money_from_node,
    order_from_node,
    policy_from_node,
    product_from_node,
    user_errors,
)
from app.store.shopify.queries import (
    ADDRESS_MUTATION,
    BASKETS_QUERY,
    CANCEL_MUTATION,
    CURRENCY_QUERY,
    CUSTOMER_QUERY,
    CUSTOMERS_PAGE_QUERY,
    ORDERS_QUERY,
    POLICIES_QUERY,
    PRODUCTS_QUERY,
    REFUND_MUTATION,
    RETURN_MUTATION,
    RETURNABLE_QUERY,
    SUGGESTED_REFUND_QUERY,
    order_name_query,
    quoted_email,
    search_words,
)


class ShopifyShop:
    """The `Shop` over the Admin GraphQL API."""

    def __init__(self, client: ShopifyGraphQL) -> None:
        self._client = client
        self._currency: str | None = None

    @property
    def client(self) -> ShopifyGraphQL:
        """The GraphQL client (the knowledge import reads pages and articles through it)."""
        return self._client

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        data = await self._client.execute(
            ORDERS_QUERY, {"query": order_name_query(number), "first": 5}
        )
        for node in connection_nodes(data.get("orders")):
            order = order_from_node(node)
            if order.name.lstrip("#").lower() == number.lower() and order.belongs_to(
                customer_email
            ):
                return order
        return None

    async def list_orders(self, *, customer_email: str, limit: int) -> list[Order]:
        data = await self._client.execute(
            # Fetch more than asked: the search is fuzzy and others' orders are dropped below.
            ORDERS_QUERY,
            {"query": f"email:{quoted_email(customer_email)}", "first": min(50, limit * 3)},
        )
        orders = [order_from_node(node) for node in connection_nodes(data.get("orders"))]
        # Shopify's search is fuzzy; only exact owners pass.
        return [order for order in orders if order.belongs_to(customer_email)][:limit]

    async def get_customer(self, *, customer_email: str) -> Customer | None:
        data = await self._client.execute(
            CUSTOMER_QUERY, {"query": f"email:{quoted_email(customer_email)}"}
        )
        for node in connection_nodes(data.get("customers")):
            customer = customer_from_node(node)
            if customer.email.lower() == customer_email.strip().lower():
                return customer
        return None

    async def search_products(self, text: str, *, limit: int) -> list[Product]:
        words = search_words(text)
        if not words:
            return []
        currency = await self._shop_currency()
        data = await self._client.execute(
            PRODUCTS_QUERY, {"query": f"{words} status:ACTIVE", "first": limit}
        )
        return [
            product_from_node(n, currency=currency) for n in connection_nodes(data.get("products"))
        ]

    async def delivered_orders(self, *, since: datetime, limit: int) -> list[Order]:
        """Orders updated since `since` whose every parcel was delivered (for follow-ups)."""
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = await self._client.execute(
            ORDERS_QUERY,
            {"query": f"fulfillment_status:shipped updated_at:>='{stamp}'", "first": limit},
        )
        orders = [order_from_node(node) for node in connection_nodes(data.get("orders"))]
        return [order for order in orders if order.status is OrderStatus.DELIVERED]

    async def get_policies(self) -> list[Policy]:
        data = await self._client.execute(POLICIES_QUERY)
        shop = data.get("shop") or {}
        self._currency = shop.get("currencyCode") or self._currency
        return [policy_from_node(node) for node in shop.get("shopPolicies") or []]

    # --- Store-wide reads (`ShopInsights`): segments and product suggestions ---

    async def customers_page(self, *, first: int, after: str | None) -> CustomerPage:
        data = await self._client.execute(
            CUSTOMERS_PAGE_QUERY, {"first": max(1, min(first, 100)), "after": after}
        )
        connection = data.get("customers") or {}
        page = connection.get("pageInfo") or {}
        return CustomerPage(
            customers=tuple(customer_from_node(n) for n in connection_nodes(connection)),
            next_cursor=page.get("endCursor") if page.get("hasNextPage") else None,
        )

    async def recent_baskets(self, *, first: int) -> list[Basket]:
        data = await self._client.execute(BASKETS_QUERY, {"first": max(1, min(first, 50))})
        return [basket_from_node(node) for node in connection_nodes(data.get("orders"))]

    async def catalogue(self, *, first: int) -> list[Product]:
        currency = await self._shop_currency()
        data = await self._client.execute(
            PRODUCTS_QUERY, {"query": "status:ACTIVE", "first": max(1, min(first, 50))}
        )
        return [
            product_from_node(n, currency=currency) for n in connection_nodes(data.get("products"))
        ]

    async def _shop_currency(self) -> str:
        if self._currency is None:
            data = await self._client.execute(CURRENCY_QUERY)
            self._currency = str((data.get("shop") or {}).get("currencyCode") or "")
        return self._currency

    async def cancel_order(self, order: Order, *, reason: str, staff_note: str) -> ActionResult:
        data = await self._client.execute(
            CANCEL_MUTATION, {"orderId": order.id, "reason": reason, "staffNote": staff_note}
        )
        payload = data.get("orderCancel") or {}
        errors = user_errors(payload, "orderCancelUserErrors", "userErrors")
        job = payload.get("job") or {}
        if errors:
            return ActionResult(
                ok=False, summary=f"{order.name} was not cancelled", user_errors=errors
            )
        return ActionResult(
            ok=True, summary=f"{order.name} cancellation started", reference=job.get("id")
        )

    async def request_return(
        self, order: Order, *, item_titles: list[str] | None, note: str
    ) -> ActionResult:
        data = await self._client.execute(RETURNABLE_QUERY, {"orderId": order.id})
        wanted = [title for title in item_titles or [] if title.strip()]
        lines = []
        for fulfillment in connection_nodes(data.get("returnableFulfillments")):
            for item in connection_nodes(fulfillment.get("returnableFulfillmentLineItems")):
                line = item.get("fulfillmentLineItem") or {}
                title = str((line.get("lineItem") or {}).get("name") or "")
                if wanted and not any(item_matches(w, title) for w in wanted):
                    continue
                lines.append(
                    {
                        "fulfillmentLineItemId": line.get("id"),
                        "quantity": int(item.get("quantity") or 0),
                        "returnReason": "OTHER",
                        "customerNote": note[:300],
                    }
                )
        if not lines:
            return ActionResult(
                ok=False,
                summary=f"{order.name} has nothing that can be returned",
                user_errors=("no returnable items matched",),
            )
        data = await self._client.execute(
            RETURN_MUTATION, {"input": {"orderId": order.id, "returnLineItems": lines}}
        )
        payload = data.get("returnRequest") or {}
        errors = user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"no return opened for {order.name}", user_errors=errors
            )
        created = payload.get("return") or {}
        return ActionResult(
            ok=True, summary=f"return {created.get('name')} requested", reference=created.get("id")
        )

    async def update_shipping_address(self, order: Order, *, address: Address) -> ActionResult:
        first, _, last = (address.name or "").strip().rpartition(" ")
        shipping = {
            "firstName": first or None,
            "lastName": last or None,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "provinceCode": address.province_code,
            "zip": address.zip,
            "countryCode": address.country_code,
        }
        data = await self._client.execute(
            ADDRESS_MUTATION, {"input": {"id": order.id, "shippingAddress": shipping}}
        )
        payload = data.get("orderUpdate") or {}
        errors = user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"address of {order.name} unchanged", user_errors=errors
            )
        return ActionResult(ok=True, summary=f"shipping address of {order.name} updated")

    async def refund_order(self, order: Order, *, note: str) -> ActionResult:
        suggestion = await self._client.execute(SUGGESTED_REFUND_QUERY, {"orderId": order.id})
        refund = ((suggestion.get("order") or {}).get("suggestedRefund")) or {}
        transactions = [
            {
                "orderId": order.id,
                "gateway": t.get("gateway"),
                "kind": "REFUND",
                "amount": str(refundable),
                "parentId": (t.get("parentTransaction") or {}).get("id"),
            }
            for t in refund.get("suggestedTransactions") or []
            if (refundable := money_from_node(t.get("amountSet")).amount) > 0
        ]
        if not transactions:
            return ActionResult(
                ok=False,
                summary=f"nothing left to refund on {order.name}",
                user_errors=("no refundable transaction",),
            )
        data = await self._client.execute(
            REFUND_MUTATION,
            {
                "input": {
                    "orderId": order.id,
                    "note": note[:300],
                    "notify": True,
                    "shipping": {"fullRefund": True},
                    "transactions": transactions,
                }
            },
        )
        payload = data.get("refundCreate") or {}
        errors = user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"{order.name} was not refunded", user_errors=errors
            )
        created = payload.get("refund") or {}
        amount = money_from_node(created.get("totalRefundedSet"))
        return ActionResult(
            ok=True, summary=f"{amount} refunded on {order.name}", reference=created.get("id")
        )
