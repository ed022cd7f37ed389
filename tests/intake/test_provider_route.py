"""`POST /webhooks/<provider>/inbound`: what every provider's route promises, whatever its adapter.

A small adapter written for these tests (JSON with the raw email inline, by reference, or an
event) stands in for a provider, so the route's and the worker's part are tested apart from any
one provider's format: unknown provider 404; headers refused 401 before the body is read;
events acknowledged and never stored; unreadable payloads stored quarantined; duplicates
acknowledged once; content by reference fetched by the worker, retried while the fetch fails
and quarantined when it keeps failing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import httpx
import pytest
from sqlalchemy import func, select, update

from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.worker import Worker
from app.mail.adapter import (
    Delivery,
    Fetched,
    FetchFailed,
    HttpGet,
    HttpReply,
    InboundAdapter,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
)
from app.mail.ceilings import MimeCeilings
from app.mail.models import InboundEmail
from app.mail.normalise import email_from_raw, raw_delivery
from app.mail.providers import adapter_for, adapters
from app.providers import Providers
from app.store.demo import DemoShop
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH

URL = "/webhooks/jsonmail/inbound"


class JsonMail(InboundAdapter):
    """{"raw": base64 MIME} | {"ref": url} | {"event": kind}; Basic auth (the default)."""

    name = "jsonmail"

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        try:
            payload = json.loads(request.body)
        except ValueError as exc:
            raise ReadError(f"not JSON: {exc}") from exc
        if "event" in payload:
            return NotAnEmail(kind=str(payload["event"]))
        if "ref" in payload:
            return raw_delivery(request.body, "jsonmail-ref", ["support@shop.test"])
        return raw_delivery(base64.b64decode(payload["raw"]), "jsonmail", ["support@shop.test"])

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        payload = json.loads(raw)
        return email_from_raw(base64.b64decode(payload["raw"]), delivery, ceilings)

    def needs_fetch(self, payload_format: str) -> bool:
        return payload_format == "jsonmail-ref"

    async def fetch(
        self,
        raw: bytes,
        content_type: str,
        payload_format: str,
        secrets: InboundSecrets,
        http: HttpGet,
    ) -> Fetched:
        try:
            reply = await http(json.loads(raw)["ref"], {"authorization": "Bearer k"})
        except OSError as exc:
            raise FetchFailed(str(exc)) from exc
        if reply.status != 200:
            raise FetchFailed(f"answered {reply.status}")
        return Fetched(raw=reply.body, content_type="application/json", payload_format="jsonmail")


@pytest.fixture(autouse=True)
def jsonmail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test adapter beside the real ones."""
    registry = dict(adapters())
    registry["jsonmail"] = JsonMail()
    monkeypatch.setattr("app.intake.webhooks.adapter_for", registry.get)
    monkeypatch.setattr("app.intake.classify.adapter_for", registry.get)


def inline(eml: bytes) -> bytes:
    return json.dumps({"raw": base64.b64encode(eml).decode()}).encode()


async def post(
    client: httpx.AsyncClient, body: bytes, *, auth: tuple[str, str] | None = BASIC_AUTH
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if auth is None:
        return await client.post(URL, content=body, headers=headers)
    return await client.post(URL, content=body, headers=headers, auth=auth)


async def count(db: Database) -> tuple[int, int]:
    async with db.read(ALL_STORES) as session:
        messages = (await session.execute(select(func.count(Message.id)))).scalar_one()
        jobs = (await session.execute(select(func.count(Job.id)))).scalar_one()
        return int(messages), int(jobs)


async def message(db: Database, pk: int) -> Message:
    async with db.read(ALL_STORES) as session:
        found = await session.get(Message, pk)
        assert found is not None
        return found


def test_every_provider_module_is_registered_under_its_own_name() -> None:
    assert "sendgrid" in adapters()
    for name, adapter in adapters().items():
        assert adapter.name == name
        assert adapter_for(name) is adapter
    assert adapter_for("nobody") is None


async def test_an_unknown_provider_is_404_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post("/webhooks/nobody/inbound", content=b"{}", auth=BASIC_AUTH)
    assert response.status_code == 404
    assert await count(db) == (0, 0)


async def test_wrong_credentials_are_refused_before_anything_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, inline(make_eml()), auth=("sendgrid", "wrong-password-123"))
    assert response.status_code == 401
    response = await post(client, inline(make_eml()), auth=None)
    assert response.status_code == 401
    assert await count(db) == (0, 0)


async def test_an_email_is_stored_with_its_job_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await post(client, inline(make_eml()))
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "received"
    again = await post(client, inline(make_eml()))
    assert again.json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    stored = await message(db, first.json()["id"])
    assert stored.provider == "jsonmail"
    assert stored.payload_format == "jsonmail"
    assert stored.message_id == "<msg-1@example.com>"


async def test_a_provider_event_is_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, b'{"event": "opened"}')
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "event": "opened"}
    assert await count(db) == (0, 0)


async def test_an_unreadable_authentic_payload_is_quarantined_not_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, b"this is not json")
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert stored.provider == "jsonmail"
    assert "not JSON" in (stored.status_reason or "")
    assert await count(db) == (1, 0)


async def test_an_oversized_post_with_good_credentials_is_kept_truncated_for_staff(
    make_settings: object, db: Database, providers: Providers
) -> None:
    from app.main import create_app

    settings = make_settings(INBOUND_MAX_BODY_BYTES=2048)  # type: ignore[operator]
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await post(client, inline(make_eml(body="x" * 5000)))
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "over INBOUND_MAX_BODY_BYTES" in (stored.status_reason or "")


class FakeGet:
    """The provider's API at the HTTP boundary: answers from a table, records what was asked."""

    def __init__(self, answers: Mapping[str, HttpReply | OSError]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, url: str, headers: Mapping[str, str]) -> HttpReply:
        self.asked.append((url, dict(headers)))
        answer = self.answers[url]
        if isinstance(answer, OSError):
            raise answer
        return answer


def worker(db: Database, settings: Settings, http: FakeGet) -> Worker:
    providers = Providers(shop=DemoShop(), llm=OfflineModel(), http_get=http)
    return Worker(db=db, settings=settings, providers=providers)


async def test_content_sent_by_reference_is_fetched_by_the_worker_and_processed(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    url = "https://api.jsonmail.test/emails/1"
    response = await post(client, json.dumps({"ref": url}).encode())
    pk = response.json()["id"]
    http = FakeGet({url: HttpReply(status=200, body=inline(make_eml()), headers={})})
    assert await worker(db, settings, http).drain() == 1
    stored = await message(db, pk)
    assert http.asked == [(url, {"authorization": "Bearer k"})]
    assert stored.from_address == "sara@example.com"
    assert stored.status in ("drafted", "answered")
    assert any(step["step"] == "fetch" for step in stored.steps or [])


async def test_a_fetch_that_fails_is_retried_then_quarantined_never_lost(
    client: httpx.AsyncClient, db: Database, make_settings: object
) -> None:
    settings: Settings = make_settings(JOB_MAX_ATTEMPTS=2)  # type: ignore[operator]
    url = "https://api.jsonmail.test/emails/2"
    response = await post(client, json.dumps({"ref": url}).encode())
    pk = response.json()["id"]
    http = FakeGet({url: ConnectionError("connection refused")})
    assert await worker(db, settings, http).drain() == 1
    assert (await message(db, pk)).status == "received"
    async with db.write(ALL_STORES) as session:
        # The retry's back-off, skipped.
        await session.execute(update(Job).values(run_after=func.now()))
    assert await worker(db, settings, http).drain() == 1
    stored = await message(db, pk)
    assert stored.status == "quarantined"
    assert "content could not be fetched" in (stored.status_reason or "")
    assert "connection refused" in (stored.status_reason or "")
    assert len(http.asked) == 2


async def sendgrid_copy(client: httpx.AsyncClient, eml: bytes) -> int:
    post = raw_mode_post(eml, verified_transport("example.com"))
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    pk: int = response.json()["id"]
    return pk


async def test_the_same_email_by_two_routes_is_answered_once(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml()
    first = await sendgrid_copy(client, eml)
    assert await worker(db, settings, FakeGet({})).drain() == 1
    # The mailbox's copy of the same email: other bytes, so intake stores it too.
    second = (await post(client, inline(eml + b"\r\n"))).json()["id"]
    assert second != first
    assert await worker(db, settings, FakeGet({})).drain() == 1
    assert (await message(db, first)).status in ("drafted", "answered")
    copy = await message(db, second)
    assert copy.status == "skipped"
    assert copy.status_reason == "same_email_twice"
    assert any(
        g["code"] == "same_email_twice" and f"message {first}" in g["detail"]
        for g in copy.guard_decisions or []
    )


async def test_a_stranger_reusing_a_message_id_does_not_silence_the_customer(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await sendgrid_copy(client, make_eml(sender="Mallory <mallory@evil.test>"))
    assert await worker(db, settings, FakeGet({})).drain() == 1
    customer = (await post(client, inline(make_eml()))).json()["id"]
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, customer)
    assert stored.status != "skipped"
    assert "same_email_twice" not in str(stored.guard_decisions)
