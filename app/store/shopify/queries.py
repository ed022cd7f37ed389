"""The GraphQL documents the service sends to the Admin API, and the search values they carry.

Every document the service sends is a constant here (`tests/store/test_shopify_queries.py`
validates each one against Shopify's published Admin schema for the pinned API version). Email
text reaches a document only as a GraphQL variable, and search values are reduced to safe
characters first, so it can neither change a query nor widen a search.
"""

from __future__ import annotations

import re

ORDER_FIELDS = """
fragment OrderFields on Order {
  id name email createdAt cancelledAt
  displayFinancialStatus displayFulfillmentStatus returnStatus
  statusPageUrl
  totalPriceSet { shopMoney { amount currencyCode } }
  shippingAddress { name address1 address2 city provinceCode zip countryCodeV2 }
  customer { id displayName defaultEmailAddress { emailAddress } }
  lineItems(first: 50) { nodes { id name quantity currentQuantity sku variantTitle } }
  fulfillments(first: 10) {
    status displayStatus createdAt inTransitAt deliveredAt estimatedDeliveryAt
    trackingInfo(first: 5) { company number url }
  }
  returns(first: 5) { nodes { id name status } }
  refunds(first: 10) { createdAt note totalRefundedSet { shopMoney { amount currencyCode } } }
}
"""

ORDERS_QUERY = (
    """
query SupportOrders($query: String!, $first: Int!) {
  orders(first: $first, query: $query, sortKey: PROCESSED_AT, reverse: true) {
    nodes { ...OrderFields }
  }
}
"""
    + ORDER_FIELDS
)

CUSTOMER_QUERY = """
query SupportCustomer($query: String!) {
  customers(first: 5, query: $query) {
    nodes {
      id displayName createdAt numberOfOrders
      defaultEmailAddress { emailAddress }
      amountSpent { amount currencyCode }
      lastOrder { createdAt }
      orders(first: 1, sortKey: CREATED_AT) { nodes { createdAt } }
    }
  }
}
"""

PRODUCTS_QUERY = """
query SupportProducts($query: String!, $first: Int!) {
  products(first: $first, query: $query) {
    nodes {
      id title handle status onlineStoreUrl totalInventory productType
      collections(first: 5) { nodes { title } }
      variants(first: 30) {
        nodes { title sku price availableForSale inventoryQuantity }
      }
    }
  }
}
"""

CUSTOMERS_PAGE_QUERY = """
query SegmentCustomers($first: Int!, $after: String) {
  customers(first: $first, after: $after, sortKey: ID) {
    nodes {
      id displayName createdAt numberOfOrders
      defaultEmailAddress { emailAddress }
      amountSpent { amount currencyCode }
      lastOrder { createdAt }
      orders(first: 1, sortKey: PROCESSED_AT) { nodes { createdAt } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
"""Every customer, a page at a time, for the store's LFRM boundaries (`app.store.segment_cuts`)."""

BASKETS_QUERY = """
query SuggestionBaskets($first: Int!) {
  orders(first: $first, sortKey: PROCESSED_AT, reverse: true) {
    nodes {
      processedAt cancelledAt
      lineItems(first: 20) { nodes { name quantity currentQuantity sku variantTitle } }
    }
  }
}
"""
"""The items of recent orders, for products bought together (`app.replies.next_product`)."""

POLICIES_QUERY = """
query SupportPolicies {
  shop { currencyCode shopPolicies { type title body url } }
}
"""

CANCEL_MUTATION = """
mutation SupportOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $staffNote: String) {
  orderCancel(
    orderId: $orderId, reason: $reason, staffNote: $staffNote, notifyCustomer: true,
    restock: true, refundMethod: { originalPaymentMethodsRefund: true }
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

RETURNABLE_QUERY = """
query SupportReturnable($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 10) {
    nodes {
      returnableFulfillmentLineItems(first: 50) {
        nodes { quantity fulfillmentLineItem { id lineItem { name } } }
      }
    }
  }
}
"""

RETURN_MUTATION = """
mutation SupportReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) {
    return { id name status }
    userErrors { field message }
  }
}
"""

ADDRESS_MUTATION = """
mutation SupportAddressUpdate($input: OrderInput!) {
  orderUpdate(input: $input) {
    order { id }
    userErrors { field message }
  }
}
"""

SUGGESTED_REFUND_QUERY = """
query SupportSuggestedRefund($orderId: ID!, $lineItems: [RefundLineItemInput!]) {
  order(id: $orderId) {
    suggestedRefund(refundShipping: true, refundLineItems: $lineItems) {
      amountSet { shopMoney { amount currencyCode } }
      suggestedTransactions {
        gateway kind amountSet { shopMoney { amount } } parentTransaction { id }
      }
    }
  }
}
"""

REFUND_MUTATION = """
mutation SupportRefund($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id totalRefundedSet { shopMoney { amount currencyCode } } }
    userErrors { field message }
  }
}
"""

CURRENCY_QUERY = "query SupportCurrency { shop { currencyCode } }"
"""Asked once per shop when products are searched before the policies told us the currency."""

# --- Search values -----------------------------------------------------------------------------

# Shopify's search syntax quotes with both ' and ", and negates with a leading "-" or NOT.
_SEARCH_UNSAFE = re.compile(r"[^\w\s.-]", re.UNICODE)
_SEARCH_OPERATORS = re.compile(r"\b(?:AND|OR|NOT)\b")


def search_words(text: str, *, max_length: int = 80) -> str:
    """Reduce free text to plain search words: no field filters, wildcards, quotes or operators.

    Hyphens stay only inside words: a leading "-" would negate the word and widen the search to
    everything else. The length limit cuts between words, so it can never leave a partial word
    that reads as an operator ("ORANGE" cut to "OR").
    """
    cleaned = _SEARCH_OPERATORS.sub(" ", _SEARCH_UNSAFE.sub(" ", text))
    words: list[str] = []
    for word in (raw.lstrip("-") for raw in cleaned.split()):
        if not word:
            continue
        if len(" ".join([*words, word])) > max_length:
            if not words:  # One overlong word: cut it, and check the cut again.
                words = _SEARCH_OPERATORS.sub(" ", word[:max_length]).split()
            break
        words.append(word)
    return " ".join(words)


def quoted_email(email: str) -> str:
    """A search value for an email address, quoted, with nothing that could escape the quotes."""
    return '"' + re.sub(r'["\\\s]', "", email) + '"'


def order_name_query(number: str) -> str:
    """The orders search for an already normalised order number (letters, digits, dashes)."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,30}", number):
        raise ValueError("order numbers must be normalised before searching")
    return f"name:{number} OR name:#{number}"


HELP_PAGES_QUERY = """
query HelpPages($first: Int!, $after: String) {
  pages(first: $first, after: $after, sortKey: ID) {
    nodes { id title handle body isPublished updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""

HELP_ARTICLES_QUERY = """
query HelpArticles($first: Int!, $after: String) {
  articles(first: $first, after: $after, sortKey: ID) {
    nodes { id title handle body isPublished updatedAt tags blog { handle } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
