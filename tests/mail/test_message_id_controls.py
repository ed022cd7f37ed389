"""A Message-ID with a control character in it is malformed: the email gets a synthetic id."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.mime import find_message_id

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@pytest.mark.parametrize(
    "value",
    [
        b"<a\x00b@example.com>",
        b"<ab@example.com>\x00",
        b"<a\x01b@example.com>",
        b"<a\x1fb@example.com>",  # removed as whitespace before: a different id, silently
        b"<a\x0bb@example.com>",
        b"<a\x7fb@example.com>",
    ],
)
def test_a_control_character_makes_the_message_id_malformed(value: bytes) -> None:
    assert find_message_id(b"From: a@example.com\r\nMessage-ID: " + value + b"\r\n") is None


def test_folding_whitespace_is_not_a_control_character() -> None:
    headers = b"Message-ID:\r\n\t<folded@example.com>\r\n"
    assert find_message_id(headers) == "<folded@example.com>"


@given(st.binary(max_size=200))
def test_a_message_id_found_never_holds_a_control_character(value: bytes) -> None:
    found = find_message_id(b"Message-ID: <" + value + b"@example.com>\r\n")
    assert found is None or _CONTROL.search(found) is None
