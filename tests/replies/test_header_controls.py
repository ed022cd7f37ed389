"""Control characters never reach the headers of a reply, whichever sender carries it."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from hypothesis import given
from hypothesis import strategies as st

from app.replies.senders import OutgoingEmail, as_mime, sendgrid_payload

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EXPECTED_HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
}


def email(**values: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "from_address": "support@shop.test",
        "from_name": "Test Shop",
        "to_address": "sara@example.com",
        "to_name": "Sara",
        "subject": "Re: Order",
        "text": "Hello\r\nthere",
        "html": "<p>Hello</p>",
        "message_id": "<reply.1@shop.test>",
        "in_reply_to": "<msg-1@example.com>",
        "references": ("<root@example.com>", "<msg-1@example.com>"),
        **values,
    }
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


HOSTILE = email(
    from_name="Test Shop\r\nBcc: thief@evil.test",
    to_name="Sara\x00\x1b[2J",
    subject="Re: Order\r\nBcc: thief@evil.test\x00",
    in_reply_to="<msg-1@example.com>\r\nBcc: thief@evil.test",
    references=("<root@example.com>\x00", "\r\n", "<a@b>\nX-Evil: 1"),
)


def mime_headers(outgoing: OutgoingEmail) -> dict[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(as_mime(outgoing))
    assert message.defects == []
    return {name: str(value) for name, value in message.items()}


def test_a_line_break_in_a_subject_or_name_cannot_add_a_header() -> None:
    headers = mime_headers(HOSTILE)
    assert set(headers) == EXPECTED_HEADERS
    assert headers["Subject"] == "Re: Order Bcc: thief@evil.test"
    assert headers["From"] == '"Test Shop Bcc: thief@evil.test" <support@shop.test>'
    assert headers["To"] == '"Sara[2J" <sara@example.com>'
    assert headers["In-Reply-To"] == "<msg-1@example.com>Bcc:thief@evil.test"
    assert headers["References"] == "<root@example.com> <a@b>X-Evil:1"
    assert not any(_CONTROL.search(value) for value in headers.values())


def test_the_sendgrid_request_carries_no_control_character_in_a_header_field() -> None:
    payload = sendgrid_payload(HOSTILE)
    values = [
        payload["subject"],
        payload["from"]["name"],
        payload["reply_to"]["name"],
        payload["personalizations"][0]["to"][0]["name"],
        *payload["headers"].values(),
    ]
    assert not any(_CONTROL.search(value) for value in values)
    # The body keeps its line breaks: only header values are cleaned.
    assert payload["content"][0]["value"] == "Hello\r\nthere"


def test_an_in_reply_to_of_nothing_but_controls_is_left_out() -> None:
    headers = sendgrid_payload(email(in_reply_to="\x00\r\n", references=("\x01",)))["headers"]
    assert "In-Reply-To" not in headers
    assert "References" not in headers


_ID = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="<>")
)


@given(
    subject=st.text(),
    from_name=st.text(),
    to_name=st.text(),
    in_reply_to=st.builds(lambda a, b: f"<{a}@{b}>", _ID, st.text()),
    noise=st.text(alphabet=st.characters(max_codepoint=0x9F)),
)
def test_any_text_in_any_header_field_stays_in_its_own_header(
    subject: str, from_name: str, to_name: str, in_reply_to: str, noise: str
) -> None:
    outgoing = email(
        subject=subject + noise,
        from_name=from_name + noise,
        to_name=to_name + noise,
        in_reply_to=in_reply_to + noise,
        references=(noise + in_reply_to,),
    )
    payload = sendgrid_payload(outgoing)
    fields = [payload["subject"], payload["from"]["name"], *payload["headers"].values()]
    assert not any(_CONTROL.search(value) for value in fields)
    raw = as_mime(outgoing)
    head = raw.split(b"\r\n\r\n", 1)[0]
    # Folded lines continue with a space or tab; every other line starts a known header.
    names = {
        line.split(b":", 1)[0].decode() for line in head.split(b"\r\n") if line[:1] not in b" \t"
    }
    assert names <= EXPECTED_HEADERS
    assert re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", head) is None
