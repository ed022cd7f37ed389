"""Sending replies: SendGrid v3 Mail Send at the HTTP boundary (respx), and the .eml log transport.

SendGrid's answers are written from its documented shapes (tests/payloads/sendgrid/mail_send_*):
202 with an empty body and `X-Message-Id`, errors as `{"errors": [{"message", "field", "help"}]}`,
429 with `X-RateLimit-Reset` (a Unix time).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.config import Settings
from app.db.models import utcnow
from app.providers import build_providers
from app.replies.senders import (
    LogMailSender,
    OutgoingEmail,
    SendDeferred,
    SendError,
    SendGridSender,
    SendRejected,
    SendResult,
    SendUncertain,
    sendgrid_payload,
)
from tests.conftest import SettingsFactory

PAYLOADS = Path(__file__).parent.parent / "payloads" / "sendgrid"
API_KEY = "SG.test-key-id.very-secret-key-value"
MAIL_SEND = "https://api.sendgrid.com/v3/mail/send"
TRIPWIRE = pytest.mark.respx(assert_all_called=False)

EMAIL = OutgoingEmail(
    from_address="support@shop.test",
    from_name="Test Shop",
    to_address="sara@example.com",
    to_name="Sara Ahmadi",
    subject="Re: Where is my order #1001?",
    text="Hi Sara,\n\nYour order #1001 has shipped.\n",
    html="<p>Hi Sara,</p><p>Your order #1001 has shipped.</p>",
    message_id="<reply.5f1c@shop.test>",
    in_reply_to="<msg-2@example.com>",
    references=("<msg-1@example.com>", "<msg-2@example.com>"),
    custom_args={"reply_id": "7", "message_id": "3"},
)


def error_body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return loaded


def accepted(
    message_id: str = "14c5d75ce93.dfd.64b469.filter-147.22649.52A6A5D4B.0",
) -> httpx.Response:
    """SendGrid's success: 202 Accepted, an empty body, the id in `X-Message-Id`."""
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def sendgrid_error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=error_body(name), headers=headers)


def sent(route: respx.Route, index: int = 0) -> dict[str, Any]:
    """The JSON body of the index-th request the route received."""
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sender(http: httpx.AsyncClient) -> SendGridSender:
    return SendGridSender(client=http, api_key=SecretStr(API_KEY))


async def send_payload(respx_mock: respx.MockRouter, sender: SendGridSender) -> dict[str, Any]:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    await sender.send(EMAIL)
    assert route.call_count == 1
    return sent(route)


# The request.


async def test_the_request_is_posted_to_mail_send_with_the_key_as_a_bearer_token(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())

    await sender.send(EMAIL)

    request = route.calls[0].request
    assert request.method == "POST"
    assert str(request.url) == MAIL_SEND
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"


async def test_the_base_url_setting_chooses_the_host(
    respx_mock: respx.MockRouter, make_settings: SettingsFactory
) -> None:
    settings: Settings = make_settings(
        SENDGRID_API_KEY=API_KEY, SENDGRID_API_BASE_URL="https://api.eu.sendgrid.com/"
    )
    providers = build_providers(settings)
    route = respx_mock.post("https://api.eu.sendgrid.com/v3/mail/send").mock(
        return_value=accepted("eu-id")
    )
    try:
        assert isinstance(providers.mail, SendGridSender)
        result = await providers.mail.send(EMAIL)
    finally:
        await providers.aclose()

    assert result == SendResult(provider_message_id="eu-id")
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_the_only_recipient_is_the_customer(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    body = await send_payload(respx_mock, sender)

    assert body["personalizations"] == [
        {"to": [{"email": "sara@example.com", "name": "Sara Ahmadi"}]}
    ]


async def test_a_recipient_without_a_name_is_sent_as_an_address_only(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())

    await sender.send(dataclasses.replace(EMAIL, to_name=None))

    assert sent(route)["personalizations"] == [{"to": [{"email": "sara@example.com"}]}]


async def test_from_and_subject_are_ours(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    body = await send_payload(respx_mock, sender)

    assert body["from"] == {"email": "support@shop.test", "name": "Test Shop"}
    assert body["subject"] == "Re: Where is my order #1001?"


async def test_plain_text_comes_before_html_and_each_appears_once(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    body = await send_payload(respx_mock, sender)

    assert body["content"] == [
        {"type": "text/plain", "value": EMAIL.text},
        {"type": "text/html", "value": EMAIL.html},
    ]


async def test_threading_and_auto_reply_headers_are_sent(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    body = await send_payload(respx_mock, sender)

    assert body["headers"] == {
        "In-Reply-To": "<msg-2@example.com>",
        "References": "<msg-1@example.com> <msg-2@example.com>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "Message-ID": "<reply.5f1c@shop.test>",
    }


def test_a_first_reply_without_a_thread_has_no_threading_headers() -> None:
    email = dataclasses.replace(EMAIL, in_reply_to=None, references=())

    headers = sendgrid_payload(email)["headers"]

    assert "In-Reply-To" not in headers
    assert "References" not in headers
    assert headers["Auto-Submitted"] == "auto-replied"


async def test_custom_args_are_strings_holding_only_our_ids(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    body = await send_payload(respx_mock, sender)

    assert body["custom_args"] == {"reply_id": "7", "message_id": "3"}
    assert all(isinstance(value, str) for value in body["custom_args"].values())
    personal = {EMAIL.to_address, "Sara", EMAIL.subject}
    assert not any(p in value for value in body["custom_args"].values() for p in personal)


async def test_click_and_open_tracking_are_disabled(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    tracking = (await send_payload(respx_mock, sender))["tracking_settings"]

    assert tracking["click_tracking"]["enable"] is False
    assert tracking["click_tracking"]["enable_text"] is False
    assert tracking["open_tracking"]["enable"] is False


async def test_sandbox_mode_is_an_unquoted_boolean_and_only_when_asked(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    # SendGrid validates a sandboxed request and answers 200 instead of 202.
    route = respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(200))
    sandboxed = SendGridSender(client=http, api_key=SecretStr(API_KEY), sandbox=True)
    normal = SendGridSender(client=http, api_key=SecretStr(API_KEY))

    assert await sandboxed.send(EMAIL) == SendResult(provider_message_id=None)
    await normal.send(EMAIL)

    assert sent(route, 0)["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert sent(route, 0)["mail_settings"]["sandbox_mode"]["enable"] is True
    assert "mail_settings" not in sent(route, 1)


# SendGrid's answers.


async def test_202_returns_the_x_message_id(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=accepted("sg-abc.filter-1"))

    assert await sender.send(EMAIL) == SendResult(provider_message_id="sg-abc.filter-1")


async def test_429_is_deferred_until_the_rate_limit_resets(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    reset = int(time.time()) + 120
    headers = {
        "X-RateLimit-Limit": "600",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
    }
    respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(429, "mail_send_429.json", headers))

    with pytest.raises(SendDeferred, match="SendGrid 429: too many requests") as caught:
        await sender.send(EMAIL)

    assert caught.value.retry_after is not None
    assert 110 <= caught.value.retry_after <= 120


async def test_429_with_a_reset_already_past_waits_at_least_a_second(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    headers = {"X-RateLimit-Reset": str(int(time.time()) - 30)}
    respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(429, "mail_send_429.json", headers))

    with pytest.raises(SendDeferred) as caught:
        await sender.send(EMAIL)

    assert caught.value.retry_after == 1.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_deferred(
    respx_mock: respx.MockRouter, sender: SendGridSender, status: int
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(status, "mail_send_500.json"))

    with pytest.raises(SendDeferred, match=f"SendGrid {status}: internal error") as caught:
        await sender.send(EMAIL)

    assert caught.value.retry_after is None


async def test_a_server_error_without_a_body_names_the_status(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503))

    with pytest.raises(SendDeferred, match="SendGrid 503: Service Unavailable"):
        await sender.send(EMAIL)


async def test_503_with_retry_after_is_deferred_for_that_long(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503, headers={"Retry-After": "30"}))

    with pytest.raises(SendDeferred) as caught:
        await sender.send(EMAIL)

    assert caught.value.retry_after == 30.0


async def test_408_request_timeout_is_deferred(
    respx_mock: respx.MockRouter, sender: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(408))

    with pytest.raises(SendDeferred, match="SendGrid 408"):
        await sender.send(EMAIL)


@pytest.mark.parametrize(
    ("status", "fixture", "reason"),
    [
        (
            400,
            "mail_send_400.json",
            "SendGrid 400: from.email: The from object must be provided for every email send.",
        ),
        (
            401,
            "mail_send_401.json",
            "SendGrid 401: The provided authorization grant is invalid, expired, or revoked",
        ),
        (
            403,
            "mail_send_403.json",
            "SendGrid 403: from: The from address does not match a verified Sender Identity.",
        ),
        (
            413,
            "mail_send_413.json",
            "SendGrid 413: The JSON payload you have included in your request is too large.",
        ),
    ],
)
async def test_client_errors_are_rejected_with_sendgrids_message_and_field(
    respx_mock: respx.MockRouter, sender: SendGridSender, status: int, fixture: str, reason: str
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(status, fixture))

    with pytest.raises(SendRejected) as caught:
        await sender.send(EMAIL)

    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("no connection available"),
    ],
    ids=lambda failure: type(failure).__name__,
)
async def test_no_connection_is_deferred(
    respx_mock: respx.MockRouter, sender: SendGridSender, failure: Exception
) -> None:
    respx_mock.post(MAIL_SEND).mock(side_effect=failure)

    with pytest.raises(SendDeferred, match=f"SendGrid unreachable: {type(failure).__name__}"):
        await sender.send(EMAIL)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.WriteTimeout("timed out"),
    ],
    ids=lambda failure: type(failure).__name__,
)
async def test_a_failure_after_the_request_left_is_uncertain(
    respx_mock: respx.MockRouter, sender: SendGridSender, failure: Exception
) -> None:
    respx_mock.post(MAIL_SEND).mock(side_effect=failure)

    with pytest.raises(SendUncertain, match=type(failure).__name__) as caught:
        await sender.send(EMAIL)

    assert not isinstance(caught.value, SendDeferred)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(sendgrid_error(400, "mail_send_400.json"), id="400"),
        pytest.param(sendgrid_error(401, "mail_send_401.json"), id="401"),
        pytest.param(
            sendgrid_error(429, "mail_send_429.json", {"X-RateLimit-Reset": "1"}), id="429"
        ),
        pytest.param(sendgrid_error(500, "mail_send_500.json"), id="500"),
        # A proxy or a misbehaving server echoing the request's credentials back.
        pytest.param(
            httpx.Response(400, text=f"bad request: Authorization: Bearer {API_KEY}"),
            id="400-echoing-the-key",
        ),
        pytest.param(
            httpx.Response(502, json={"errors": [{"message": f"upstream saw {API_KEY}"}]}),
            id="502-echoing-the-key",
        ),
        pytest.param(httpx.ConnectError(f"cannot reach {MAIL_SEND}"), id="connect-error"),
        pytest.param(httpx.ReadTimeout("timed out"), id="read-timeout"),
    ],
)
async def test_the_api_key_never_appears_in_an_error(
    respx_mock: respx.MockRouter, sender: SendGridSender, answer: httpx.Response | Exception
) -> None:
    if isinstance(answer, httpx.Response):
        respx_mock.post(MAIL_SEND).mock(return_value=answer)
    else:
        respx_mock.post(MAIL_SEND).mock(side_effect=answer)

    with pytest.raises(SendError) as caught:
        await sender.send(EMAIL)

    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value.__cause__ or "")
    assert API_KEY.split(".")[-1] not in str(caught.value)


# The log transport.


def read_eml(path: Path) -> EmailMessage:
    with path.open("rb") as file:
        parsed = BytesParser(policy=policy.default).parse(file)
    assert isinstance(parsed, EmailMessage)
    return parsed


def files_in(directory: Path) -> list[Path]:
    """Every entry, hidden ones (where a partial write would live) included."""
    return sorted(directory.iterdir())


async def test_the_log_transport_writes_one_eml_per_reply_and_no_partial_files(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox"
    mail = LogMailSender(outbox)

    first = await mail.send(EMAIL)
    second = await mail.send(dataclasses.replace(EMAIL, message_id="<reply.6a2d@shop.test>"))

    assert first.provider_message_id is not None
    assert second.provider_message_id is not None
    assert files_in(outbox) == sorted(
        [outbox / first.provider_message_id, outbox / second.provider_message_id]
    )
    assert all(path.suffix == ".eml" for path in files_in(outbox))
    assert "reply.5f1c_shop.test" in first.provider_message_id


async def test_the_eml_carries_our_headers_and_both_alternatives(tmp_path: Path) -> None:
    mail = LogMailSender(tmp_path)

    result = await mail.send(EMAIL)

    assert result.provider_message_id is not None
    parsed = read_eml(tmp_path / result.provider_message_id)
    assert parsed["From"] == "Test Shop <support@shop.test>"
    assert parsed["To"] == "Sara Ahmadi <sara@example.com>"
    assert parsed["Subject"] == "Re: Where is my order #1001?"
    assert parsed["Message-ID"] == "<reply.5f1c@shop.test>"
    assert parsed["In-Reply-To"] == "<msg-2@example.com>"
    assert parsed["References"] == "<msg-1@example.com> <msg-2@example.com>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content() == EMAIL.text
    assert html.get_content().strip() == EMAIL.html
    assert parsed.defects == []


async def test_the_eml_date_is_in_utc_not_an_unknown_zone(tmp_path: Path) -> None:
    result = await LogMailSender(tmp_path).send(EMAIL)

    assert result.provider_message_id is not None
    date = read_eml(tmp_path / result.provider_message_id)["Date"].datetime
    # "-0000" (time zone unknown) parses to a naive datetime; "+0000" to UTC.
    assert date.tzinfo is not None
    assert date.utcoffset() == timedelta(0)
    assert abs(date.astimezone(UTC) - utcnow()) < timedelta(minutes=1)


async def test_persian_subject_body_and_names_survive_the_round_trip(tmp_path: Path) -> None:
    email = dataclasses.replace(
        EMAIL,
        from_name="فروشگاه نمونه",
        to_name="سارا احمدی",
        subject="پاسخ: سفارش ۱۰۰۱ من کجاست؟",
        text="سلام سارا،\n\nسفارش شما (#1001) ارسال شد.\n",
        html='<div dir="rtl"><p>سلام سارا،</p><p>سفارش شما (#1001) ارسال شد.</p></div>',
    )

    result = await LogMailSender(tmp_path).send(email)

    assert result.provider_message_id is not None
    raw = (tmp_path / result.provider_message_id).read_bytes()
    parsed = read_eml(tmp_path / result.provider_message_id)
    assert parsed["Subject"] == "پاسخ: سفارش ۱۰۰۱ من کجاست؟"
    assert parsed["From"].addresses[0].display_name == "فروشگاه نمونه"
    assert parsed["To"].addresses[0].display_name == "سارا احمدی"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content() == email.text
    assert html.get_content().strip() == email.html
    # Headers are MIME-encoded words on the wire, never raw UTF-8.
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()


async def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.replies.senders.os.replace", disk_full)

    # Nothing was written, so nothing was "sent": the outbox may safely try again later.
    with pytest.raises(SendDeferred, match="No space left"):
        await LogMailSender(tmp_path).send(EMAIL)

    assert files_in(tmp_path) == []


@TRIPWIRE
async def test_the_log_transport_never_touches_the_network(
    respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.route().mock(return_value=accepted())

    await LogMailSender(tmp_path).send(EMAIL)

    assert route.call_count == 0
