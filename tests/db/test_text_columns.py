"""Every text column stores only what every supported database accepts (`app.db.text`)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Base, Conversation
from app.db.scope import ALL_STORES
from app.db.text import SafeString, SafeText, storable
from tests.builders import IN_DEFAULT_STORE

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_columns() -> list[sa.Column[object]]:
    """Every column of every model whose values are text (status enums excepted)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            kind = column.type
            impl = kind.impl if isinstance(kind, sa.TypeDecorator) else kind
            if isinstance(impl, sa.String) and not isinstance(impl, sa.Enum):
                found.append(column)
    return found


def test_every_text_column_of_every_model_uses_a_safe_type() -> None:
    # Iterating the metadata covers a column added later, in any table.
    unsafe = [
        f"{column.table.name}.{column.name}"
        for column in text_columns()
        if not isinstance(column.type, (SafeText, SafeString))
    ]
    assert unsafe == []
    assert len(text_columns()) > 50


async def test_control_characters_are_removed_on_the_way_in_on_this_database(
    db: Database,
) -> None:
    # PostgreSQL refuses NUL and asyncpg cannot encode a lone surrogate: without the safe
    # types this insert fails there.
    async with db.write(IN_DEFAULT_STORE) as session:
        subject = "Order\x00 \x1b[31m#1001\ud800\tok\r\n"
        session.add(Conversation(customer_email="sara\x00@example.com", subject=subject))
    async with db.read(ALL_STORES) as session:
        # Lookups clean their values the same way, so the stored text is found by what came in.
        by_address = Conversation.customer_email == "sara\x00@example.com"
        statement = select(Conversation).where(by_address)
        conversation = (await session.execute(statement)).scalar_one()
    assert conversation.customer_email == "sara@example.com"
    assert conversation.subject == "Order [31m#1001\ufffd\tok\r\n"


@given(st.text())
def test_storable_text_holds_no_control_character_and_is_encodable(value: str) -> None:
    cleaned = storable(value)
    assert _FORBIDDEN.search(cleaned) is None
    cleaned.encode("utf-8")
    assert storable(cleaned) == cleaned


_CLEAN = st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\r\n")


@given(st.text(alphabet=_CLEAN))
def test_clean_text_is_left_exactly_as_it_was(value: str) -> None:
    assert storable(value) == value
