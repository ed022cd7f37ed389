"""Shopify's signatures, the state cookie and the scopes, checked against documented values."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from app.store.shopify_app import oauth, signing
from tests.store.shopify.test_queries import admin_schema

# The example in Shopify's "Implement authorization code grant manually" guide.
DOC_SECRET = "hush"
DOC_QUERY = [
    ("code", "0907a61c0c8d55e99db179b68161bc00"),
    ("shop", "some-shop.myshopify.com"),
    ("timestamp", "1337178173"),
]
DOC_HMAC = "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"


def test_the_documented_query_signature() -> None:
    assert signing.query_signature(DOC_QUERY, DOC_SECRET) == DOC_HMAC
    assert signing.query_is_authentic([*DOC_QUERY, ("hmac", DOC_HMAC)], DOC_SECRET)
    # The order parameters arrive in does not matter; the signature covers them sorted.
    assert signing.query_is_authentic([("hmac", DOC_HMAC), *reversed(DOC_QUERY)], DOC_SECRET)


@pytest.mark.parametrize(
    "params",
    [
        [*DOC_QUERY, ("hmac", DOC_HMAC[:-1] + "1")],
        [*DOC_QUERY, ("extra", "1"), ("hmac", DOC_HMAC)],
        [*DOC_QUERY[:2], ("hmac", DOC_HMAC)],
        [*DOC_QUERY, ("hmac", DOC_HMAC), ("hmac", DOC_HMAC)],
        DOC_QUERY,
    ],
    ids=["wrong", "added-param", "dropped-param", "two-hmacs", "none"],
)
def test_anything_but_the_signed_query_fails(params: list[tuple[str, str]]) -> None:
    assert not signing.query_is_authentic(params, DOC_SECRET)


def test_delimiters_inside_values_cannot_forge_other_parameters() -> None:
    # `shop=a&state=b` as one value must not sign the same text as two parameters.
    one = signing.query_message([("shop", "a&state=b")])
    two = signing.query_message([("shop", "a"), ("state", "b")])
    assert one != two
    assert signing.query_message([("a=b", "c")]) == "a%3Db=c"
    assert signing.query_message([("a", "100%")]) == "a=100%25"


def test_query_freshness() -> None:
    assert signing.query_is_fresh("1000", now=1000 + 600)
    assert not signing.query_is_fresh("1000", now=1000 + 601)
    assert not signing.query_is_fresh("1000", now=1000 - 601)
    assert not signing.query_is_fresh(None)
    assert not signing.query_is_fresh("soon")


def test_the_webhook_signature_is_base64_hmac_of_the_raw_body() -> None:
    body = b'{"shop_id":954889,"shop_domain":"some-shop.myshopify.com"}'
    expected = base64.b64encode(hmac.new(b"hush", body, hashlib.sha256).digest()).decode()

    assert signing.body_signature(body, "hush") == expected
    assert signing.body_is_authentic(body, expected, "hush")
    assert not signing.body_is_authentic(body + b" ", expected, "hush")
    assert not signing.body_is_authentic(body, expected, "other")
    assert not signing.body_is_authentic(body, None, "hush")
    assert not signing.body_is_authentic(body, "not base64!", "hush")
    # The hex form (the query's) is not the webhook's.
    assert not signing.body_is_authentic(
        body, hmac.new(b"hush", body, hashlib.sha256).hexdigest(), "hush"
    )


def test_the_state_cookie_round_trips_and_expires() -> None:
    state = signing.new_state("a.myshopify.com")
    sealed = signing.seal_state(state, "secret", now=1000)

    assert signing.open_state(sealed, "secret", now=1000 + 599) == state
    assert signing.open_state(sealed, "secret", now=1000 + 601) is None
    assert signing.open_state(sealed, "another secret", now=1000) is None
    tampered = sealed.replace("a.myshopify.com", "b.myshopify.com")
    assert signing.open_state(tampered, "secret", now=1000) is None
    assert signing.open_state("garbage", "secret") is None
    assert signing.state_matches(state, "a.myshopify.com", state.nonce)
    assert not signing.state_matches(state, "b.myshopify.com", state.nonce)
    assert not signing.state_matches(state, "a.myshopify.com", "other")
    assert not signing.state_matches(None, "a.myshopify.com", state.nonce)


def test_a_cookie_signature_is_not_a_shopify_signature() -> None:
    # The cookie is signed with a key derived from the secret, never the secret itself.
    state = signing.InstallState(shop="a.myshopify.com", nonce="n")
    sealed = signing.seal_state(state, "secret", now=0)
    payload, _, mac = sealed.rpartition("|")
    assert mac != hmac.new(b"secret", payload.encode(), hashlib.sha256).hexdigest()


def test_write_scopes_imply_their_read_scopes() -> None:
    granted = oauth.granted("write_orders, read_customers,write_returns")

    assert granted == {
        "write_orders",
        "read_orders",
        "read_customers",
        "write_returns",
        "read_returns",
    }
    assert oauth.missing_scopes(granted) == [
        "read_content",
        "read_fulfillments",
        "read_legal_policies",
        "read_products",
    ]


@pytest.mark.parametrize(
    "document", [oauth.SHOP_QUERY, oauth.WEBHOOK_SUBSCRIPTION_MUTATION], ids=["shop", "subscribe"]
)
def test_the_graphql_documents_fit_the_pinned_admin_schema(document: str) -> None:
    from graphql import parse, validate
    from graphql.validation import NoDeprecatedCustomRule

    errors = validate(admin_schema(), parse(document), [NoDeprecatedCustomRule])
    assert not errors, "\n".join(e.message for e in errors)
    assert not validate(admin_schema(), parse(document))
