"""A provider's JSON fields as a header block: one line per header, names checked, JSON read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import ReadError, UnusableEmail
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.jsonmail import (
    PostedEmail,
    attachment,
    finite_number,
    header_pairs,
    json_checksum,
    load_json,
    mailbox_header,
    only_value,
    parse_posted,
)


def test_a_value_with_line_breaks_stays_one_header() -> None:
    posted = PostedEmail(headers=[("Subject", "Hello\r\nBcc: x@evil.test\n\tthere")], text="x")
    mime, _ = parse_posted(posted, MimeCeilings())
    assert mime.headers == [("Subject", "Hello Bcc: x@evil.test there")]


@pytest.mark.parametrize("name", ["Bad Name", "Colon:Name", "", "Ünïcode", "x" * 201])
def test_a_header_name_that_is_no_field_name_is_dropped_as_a_defect(name: str) -> None:
    posted = PostedEmail(headers=[(name, "v"), ("Subject", "kept")], text="x")
    mime, _ = parse_posted(posted, MimeCeilings())
    assert mime.headers == [("Subject", "kept")]
    assert len(posted.defects) == 1
    assert posted.defects[0].startswith("header name not usable")


def test_the_from_values_come_from_the_block_as_written() -> None:
    posted = PostedEmail(headers=[("From", "=?utf-8?q?Sara?= <sara@example.com>")])
    mime, raw_from = parse_posted(posted, MimeCeilings())
    assert raw_from == ["=?utf-8?q?Sara?= <sara@example.com>"]
    assert mime.content_type == "text/plain"


def test_add_missing_keeps_what_the_headers_already_say() -> None:
    posted = PostedEmail(headers=[("subject", "from the list")])
    posted.add_missing("Subject", "from the field")
    posted.add_missing("Date", None)
    posted.add_missing("To", "support@shop.test")
    assert posted.headers == [("subject", "from the list"), ("To", "support@shop.test")]


def test_nothing_at_all_is_unusable_and_too_many_header_lines_cross_a_ceiling() -> None:
    with pytest.raises(UnusableEmail):
        parse_posted(PostedEmail(), MimeCeilings())
    many = PostedEmail(headers=[("X-N", str(n)) for n in range(200)])
    with pytest.raises(OverCeiling):
        parse_posted(many, MimeCeilings(max_header_lines=100))


@pytest.mark.parametrize(
    ("name", "address", "written"),
    [
        ("Sara", "sara@example.com", '"Sara" <sara@example.com>'),
        ('Sa"ra \\ A', "sara@example.com", '"Sa\\"ra \\\\ A" <sara@example.com>'),
        ("Line\r\nBreak", "sara@example.com", '"Line Break" <sara@example.com>'),
        (None, "sara@example.com", "sara@example.com"),
        ("  ", "sara@example.com", "sara@example.com"),
        ("Sara", "", None),
        ("Sara", None, None),
    ],
)
def test_mailbox_headers(name: object, address: object, written: str | None) -> None:
    assert mailbox_header(name, address) == written


def test_attachment_metadata_from_any_json_types() -> None:
    meta = attachment("../a.pdf", "Application/PDF; name=a.pdf", 10, "<cid1>")
    assert (meta.filename, meta.content_type, meta.size, meta.content_id, meta.is_inline) == (
        "a.pdf",
        "application/pdf",
        10,
        "cid1",
        True,
    )
    odd = attachment(5, None, True, 7)
    assert (odd.filename, odd.content_type, odd.size, odd.content_id) == (
        "",
        "application/octet-stream",
        0,
        None,
    )
    assert attachment("a", "text/plain", -5).size == 0
    assert not attachment("a", "text/plain", 1, "cid", inline=False).is_inline


def test_header_pairs_from_lists_and_maps() -> None:
    assert header_pairs([{"Name": "A", "Value": "1"}, {"name": "b", "value": "2"}, "x"]) == [
        ("A", "1"),
        ("b", "2"),
    ]
    assert header_pairs({"Received": ["r1", "r2", 3], "To": "t"}) == [
        ("Received", "r1"),
        ("Received", "r2"),
        ("To", "t"),
    ]
    assert header_pairs("nope") == []
    assert only_value([("A", "1"), ("a", "2")], "A") is None
    assert only_value([("A", "1")], "a") == "1"


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (1, 1.0),
        ("2.5", 2.5),
        (" 3 ", 3.0),
        (True, None),
        ("nan", None),
        ("inf", None),
        ("x", None),
        (None, None),
        (10**400, None),
    ],
)
def test_finite_numbers(value: object, number: float | None) -> None:
    assert finite_number(value) == number


def test_the_checksum_is_independent_of_key_order_and_skips_what_it_is_told_to() -> None:
    one = json_checksum({"a": {"x": 1, "y": [1, 2]}, "id": "1"}, exclude={"id"})
    two = json_checksum({"id": "2", "a": {"y": [1, 2], "x": 1}}, exclude={"id"})
    assert one == two
    assert json_checksum({"a": "\ud800"}) != json_checksum({"a": ""})


@pytest.mark.parametrize("body", [b"", b"{", b"[" * 100_000])
def test_what_is_not_json_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        load_json(body)


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=60)), max_size=10))
def test_any_posted_headers_parse_or_are_unusable(pairs: list[tuple[str, str]]) -> None:
    try:
        mime, _ = parse_posted(PostedEmail(headers=pairs), MimeCeilings())
    except UnusableEmail:
        return
    assert all("\n" not in value and "\r" not in value for _, value in mime.headers)
