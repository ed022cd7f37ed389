"""The GraphQL documents against Shopify's published Admin schema, and the search values.

The schema is the introspection result Shopify publishes for the pinned API version (the
`SHOPIFY_API_VERSION` default), kept gzipped in tests/store/schema/ (its README says where from;
`make shopify-schema` refreshes it).
"""

from __future__ import annotations

import ast
import functools
import gzip
import json
from pathlib import Path

import pytest
from graphql import GraphQLError, GraphQLSchema, build_client_schema, parse, validate
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode
from graphql.validation import NoDeprecatedCustomRule

from app.config import Settings
from app.store.knowledge import shopify_source
from app.store.shopify import queries, shop
from app.store.shopify.queries import order_name_query, quoted_email, search_words
from tests.store.shopify.wire import SARA

SCHEMA_DIR = Path(__file__).parents[1] / "schema"
PINNED_VERSION = str(Settings.model_fields["SHOPIFY_API_VERSION"].default)

DOCUMENTS = {
    name: value
    for name, value in vars(queries).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("_")
}
"""Every GraphQL document in queries.py: the module's upper-case string constants."""

OPERATIONS = {
    name: text
    for name, text in DOCUMENTS.items()
    if any(isinstance(d, OperationDefinitionNode) for d in parse(text).definitions)
}
FRAGMENTS = {name: text for name, text in DOCUMENTS.items() if name not in OPERATIONS}


@functools.cache
def admin_schema() -> GraphQLSchema:
    """The Admin API schema of the pinned version, built from Shopify's introspection result."""
    path = SCHEMA_DIR / f"admin_{PINNED_VERSION}.json.gz"
    assert path.exists(), f"{path} is missing: run `make shopify-schema`"
    introspection = json.loads(gzip.decompress(path.read_bytes()))
    return build_client_schema(introspection["data"])


def schema_errors(document: str) -> list[GraphQLError]:
    return validate(admin_schema(), parse(document))


# --- Every document is valid for the pinned API version -----------------------------------------


def test_the_kept_schema_is_the_pinned_versions_and_only_it() -> None:
    kept = sorted(path.name for path in SCHEMA_DIR.glob("admin_*.json.gz"))
    assert kept == [f"admin_{PINNED_VERSION}.json.gz"]
    assert f"API version {PINNED_VERSION}" in (SCHEMA_DIR / "README.md").read_text("utf-8")
    query_type = admin_schema().query_type
    assert query_type is not None
    assert query_type.name == "QueryRoot"


def test_the_documents_are_found() -> None:
    assert {"ORDERS_QUERY", "CANCEL_MUTATION", "CURRENCY_QUERY"} <= set(OPERATIONS)
    assert set(FRAGMENTS) == {"ORDER_FIELDS"}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_document_is_valid_against_the_admin_schema(name: str) -> None:
    errors = schema_errors(OPERATIONS[name])
    assert not errors, "\n".join(e.message for e in errors)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_document_uses_no_deprecated_field(name: str) -> None:
    # Deprecated fields are the next version's removals: refreshing the schema warns early.
    errors = validate(admin_schema(), parse(OPERATIONS[name]), [NoDeprecatedCustomRule])
    assert not errors, "\n".join(e.message for e in errors)


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_each_fragment_is_sent_inside_an_operation(name: str) -> None:
    (fragment,) = parse(FRAGMENTS[name]).definitions
    assert isinstance(fragment, FragmentDefinitionNode)
    assert any(FRAGMENTS[name] in text for text in OPERATIONS.values())


@pytest.mark.parametrize(
    ("document", "error"),
    [
        # A misspelt field.
        (
            OPERATIONS["ORDERS_QUERY"].replace(
                "displayFulfillmentStatus", "displayFulfilmentStatus"
            ),
            "Cannot query field 'displayFulfilmentStatus' on type 'Order'.",
        ),
        # A variable of the wrong type.
        (
            OPERATIONS["RETURNABLE_QUERY"].replace("$orderId: ID!", "$orderId: String!"),
            "Variable '$orderId' of type 'String!' used in position expecting type 'ID!'.",
        ),
        # An argument the field does not take.
        (
            OPERATIONS["CANCEL_MUTATION"].replace("notifyCustomer: true", "notifyBuyer: true"),
            "Unknown argument 'notifyBuyer' on field 'Mutation.orderCancel'.",
        ),
    ],
    ids=["misspelt-field", "wrong-variable-type", "unknown-argument"],
)
def test_a_wrong_document_fails_validation(document: str, error: str) -> None:
    assert document not in OPERATIONS.values()  # The replacement did change the document.
    messages = [e.message for e in schema_errors(document)]
    assert any(message.startswith(error) for message in messages), messages


def test_the_shop_sends_only_documents_from_queries() -> None:
    """Every `execute(...)` in shop.py sends a queries.py constant, so the tests above see it."""
    tree = ast.parse(Path(shop.__file__).read_text(encoding="utf-8"))
    sent = [
        node.args[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "execute"
    ]
    for document in sent:
        assert isinstance(document, ast.Name), ast.unparse(document)
        assert document.id in OPERATIONS, document.id
    # The knowledge import pages through its two documents with one helper.
    knowledge = ast.parse(Path(shopify_source.__file__).read_text(encoding="utf-8"))
    paged = {node.id for node in ast.walk(knowledge) if isinstance(node, ast.Name)} & set(
        OPERATIONS
    )
    assert paged == {"HELP_PAGES_QUERY", "HELP_ARTICLES_QUERY"}
    assert {d.id for d in sent if isinstance(d, ast.Name)} | paged == set(OPERATIONS)


# --- Search values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('shirt" OR email:* (tag:x)', "shirt email tag x"),
        ("linen shirt", "linen shirt"),
        ("t-shirt size M", "t-shirt size M"),
        # A leading "-" negates a term: "-zzz" would match every product but zzz.
        ("-zzz", "zzz"),
        ("-- -shirt --", "shirt"),
        # Shopify quotes with single quotes too: an open quote could swallow status:ACTIVE.
        ("shirt' status:DRAFT", "shirt status DRAFT"),
        ("NOT red AND blue", "red blue"),
        ("vendor:acme title:*", "vendor acme title"),
        ("back\\slash", "back slash"),
        ("größe café", "größe café"),
    ],
)
def test_search_words(text: str, expected: str) -> None:
    assert search_words(text) == expected


def test_search_words_never_cuts_a_word_into_an_operator() -> None:
    # 77 letters, a space, then "ORANGE": cutting at 80 characters used to leave "... OR".
    words = search_words("a" * 77 + " ORANGE")

    assert words == "a" * 77
    assert len(search_words("word " * 40)) <= 80
    assert len(search_words("x" * 200)) == 80


def test_quoted_email_cannot_escape_its_quotes() -> None:
    assert quoted_email(SARA) == '"sara@example.com"'
    assert quoted_email('sara"@example.com OR "x\\') == '"sara@example.comORx"'


def test_order_name_query_accepts_only_normalised_numbers() -> None:
    assert order_name_query("1001-A") == "name:1001-A OR name:#1001-A"
    for hostile in ("1001 OR name:*", "#1001", "1001)", "", "x" * 31):
        with pytest.raises(ValueError, match="normalised"):
            order_name_query(hostile)
