"""Two stores in one deployment, end to end: each store's mail is answered by that store alone.

Both shops have the same customer, the same order numbers and the same products, with different
details (tracking numbers, totals, cities). Shopify (both shops' Admin GraphQL endpoints) and
SendGrid are faked at the HTTP boundary; the webhook, the worker, the database and every adapter
are real, and only the model is scripted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import select, update

from app.config import Settings
from app.db.engine import Database
from app.db.models import (
    AgentRun,
    Conversation,
    Job,
    Message,
    ModelTurn,
    Reply,
    ToolCall,
    utcnow,
)
from app.db.scope import ALL_STORES
from app.db.statuses import MessageStatus, StoreStatus
from app.db.stores import DEFAULT_STORE_ID, Store
from app.demo.sendgrid_posts import raw_mode_post
from app.intake.classify import NO_STORE
from app.jobs.worker import Worker
from app.providers import NoShop, Providers, build_providers
from app.store.demo import DemoShop
from app.store.directory import StoreDirectory
from app.store.secrets import SecretBox, new_key
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory
from tests.fakes import (
    LIVE_PROVIDERS,
    SENDGRID_SEND,
    SHOPIFY_ENDPOINT,
    FakeShopify,
    ScriptedLLM,
    Step,
    call,
    submit,
    turn,
)
from tests.store.demo_nodes import DemoNodes

KEY = new_key()
SECRETS = SecretBox.from_setting(SecretStr(KEY))

DEFAULT_ADDRESS = "support@shop.test"
NORTH_ADDRESS = "help@north.example"
NORTH_ALIAS = "orders@north.example"
NORTH_DOMAIN = "north-test.myshopify.com"
NORTH_ENDPOINT = f"https://{NORTH_DOMAIN}/admin/api/2026-10/graphql.json"
NORTH_TOKEN = "shpat_north_token"
CUSTOMER = "Sara Ahmadi <sara.ahmadi@example.com>"

# Order #1001 in each shop: the same number and customer, different parcels, totals and cities.
DEFAULT_TRACKING = "00340434161094015902"
NORTH_TRACKING = "00340434169977001122"
NORTH_SWAPS = {DEFAULT_TRACKING: NORTH_TRACKING, '"73.9"': '"81.5"', "Hamburg": "Bremen"}


class NorthNodes(DemoNodes):
    """The demo fixtures with the north shop's own details in the same orders."""

    def order_nodes(self) -> list[dict[str, Any]]:
        text = json.dumps(super().order_nodes())
        for old, new in NORTH_SWAPS.items():
            text = text.replace(old, new)
        nodes: list[dict[str, Any]] = json.loads(text)
        return nodes


@dataclass
class TwoStores:
    """The default store (from the environment) and the north store (a row), both live."""

    db: Database
    settings: Settings
    providers: Providers
    north_id: int
    default_shop: FakeShopify
    north_shop: FakeShopify
    default_route: respx.Route
    north_route: respx.Route
    sendgrid: respx.Route

    def use(self, llm: ScriptedLLM) -> Providers:
        return replace(self.providers, llm=llm, fallback_llm=None)

    def sent_for(self, message_pk: int) -> dict[str, Any]:
        """The SendGrid body of the reply to one inbound email."""
        for sent in self.sendgrid.calls:
            body: dict[str, Any] = json.loads(sent.request.content)
            if body["custom_args"]["message_id"] == str(message_pk):
                return body
        raise AssertionError(f"no reply to message {message_pk} was sent")


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # No store cache: a store disabled by a test is seen at once, as by the process that did it.
    return make_settings(**LIVE_PROVIDERS, STORE_SECRET_KEYS=KEY, STORE_CACHE_SECONDS=0)


async def add_north(db: Database, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "slug": "north",
        "shop_domain": NORTH_DOMAIN,
        "name": "North Shop",
        "support_email": NORTH_ADDRESS,
        "support_addresses": [NORTH_ADDRESS, NORTH_ALIAS],
        "store_url": "https://north.example",
        "signature": "The North team",
        "auto_send_intents": ["order_status"],
        "credentials": SECRETS.seal({"admin_api_token": NORTH_TOKEN}),
    }
    values.update(overrides)
    async with db.write(ALL_STORES) as session:
        store = Store(**values)
        session.add(store)
        await session.flush()
        return store.id


async def set_north_status(db: Database, store_id: int, status: StoreStatus) -> None:
    async with db.write(ALL_STORES) as session:
        await session.execute(update(Store).where(Store.id == store_id).values(status=status))


@pytest.fixture
async def stores(
    settings: Settings, db: Database, respx_mock: respx.MockRouter
) -> AsyncIterator[TwoStores]:
    default_shop = FakeShopify(DemoShop())
    north_shop = FakeShopify(DemoShop())
    north_shop.demo = NorthNodes(north_shop.demo.now)
    default_route = respx_mock.post(SHOPIFY_ENDPOINT).mock(side_effect=default_shop)
    north_route = respx_mock.post(NORTH_ENDPOINT).mock(side_effect=north_shop)
    sendgrid = respx_mock.post(SENDGRID_SEND).mock(
        return_value=httpx.Response(202, headers={"X-Message-Id": "sg-msg-1"})
    )
    providers = build_providers(settings)
    yield TwoStores(
        db=db,
        settings=settings,
        providers=providers,
        north_id=await add_north(db),
        default_shop=default_shop,
        north_shop=north_shop,
        default_route=default_route,
        north_route=north_route,
        sendgrid=sendgrid,
    )
    await providers.aclose()


async def deliver(
    client: httpx.AsyncClient,
    *,
    to: str,
    envelope_to: str | None = None,
    sender: str = CUSTOMER,
    domain: str = "example.com",
    **eml: Any,
) -> int:
    """Post a DKIM-verified email to the webhook, delivered to `envelope_to` (else `to`)."""
    values: dict[str, Any] = {
        "sender": sender,
        "to": to,
        "subject": "Where is my order #1001?",
        "body": "Hi, where is my order #1001?\n\nSara\n",
    }
    values.update(eml)
    transport = verified_transport(
        domain, envelope_from=f"bounce@{domain}", envelope_to=(envelope_to or to,)
    )
    post = raw_mode_post(make_eml(**values), transport)
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    pk: int = response.json()["id"]
    return pk


def order_answers(count: int) -> ScriptedLLM:
    """A model that answers `count` order questions by looking the order up."""
    script: list[Step] = []
    for _ in range(count):
        script += [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], paragraph="Thanks for your patience.")),
        ]
    return ScriptedLLM(script)


async def drain(world: TwoStores, llm: ScriptedLLM, settings: Settings | None = None) -> int:
    """Run the real worker over every queued job, both stores' interleaved in arrival order."""
    worker = Worker(db=world.db, settings=settings or world.settings, providers=world.use(llm))
    return await worker.drain()


async def message(db: Database, pk: int) -> Message:
    async with db.read(ALL_STORES) as session:
        found = await session.get(Message, pk)
        assert found is not None
        return found


async def replies_to(db: Database, pk: int) -> list[Reply]:
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(select(Reply).where(Reply.message_id == pk))
        return list(rows.scalars())


def text_of(sent: dict[str, Any]) -> str:
    return str(sent["content"][0]["value"])


# --- Each store answers from its own shop, address and name ----------------------------------


async def test_interleaved_mail_of_two_stores_is_each_answered_by_its_own_store(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    a1 = await deliver(client, to=DEFAULT_ADDRESS, message_id="<a1@example.com>")
    b1 = await deliver(client, to=NORTH_ADDRESS, message_id="<b1@example.com>")
    a2 = await deliver(
        client, to=DEFAULT_ADDRESS, message_id="<a2@example.com>", subject="Order #1001 again"
    )
    b2 = await deliver(
        client, to=NORTH_ALIAS, message_id="<b2@example.com>", subject="Order #1001 again"
    )
    await drain(stores, order_answers(4))

    for pk in (a1, a2):
        sent = stores.sent_for(pk)
        assert sent["from"] == {"email": DEFAULT_ADDRESS, "name": "Test Shop"}
        assert DEFAULT_TRACKING in text_of(sent)
        assert NORTH_TRACKING not in text_of(sent)
        assert "73.90" in text_of(sent)
        assert "81.50" not in text_of(sent)
    for pk in (b1, b2):
        sent = stores.sent_for(pk)
        assert sent["from"] == {"email": NORTH_ADDRESS, "name": "North Shop"}
        assert sent["headers"]["Message-ID"].endswith("@north.example>")
        assert NORTH_TRACKING in text_of(sent)
        assert DEFAULT_TRACKING not in text_of(sent)
        assert "81.50" in text_of(sent)
        assert "73.90" not in text_of(sent)
        assert "The North team" in text_of(sent)
        assert "Test Shop" not in text_of(sent)
    assert stores.sendgrid.call_count == 4
    # Each shop was asked only about its own store's mail, with its own token.
    assert stores.default_shop.operations.count("query SupportOrders") == 2
    assert stores.north_shop.operations.count("query SupportOrders") == 2
    assert "query SupportPolicies" in stores.north_shop.operations
    tokens = {c.request.headers["X-Shopify-Access-Token"] for c in stores.north_route.calls}
    assert tokens == {NORTH_TOKEN}
    tokens = {c.request.headers["X-Shopify-Access-Token"] for c in stores.default_route.calls}
    assert tokens == {LIVE_PROVIDERS["SHOPIFY_ACCESS_TOKEN"]}
    expected = {a1: DEFAULT_STORE_ID, a2: DEFAULT_STORE_ID, b1: stores.north_id}
    await assert_everything_carries_its_store(db, {**expected, b2: stores.north_id})


async def assert_everything_carries_its_store(db: Database, expected: dict[int, int]) -> None:
    """Every row the pipeline wrote about an email is stamped with that email's store."""
    async with db.read(ALL_STORES) as session:
        for pk, store_id in expected.items():
            found = await session.get(Message, pk)
            assert found is not None
            assert (found.status, found.store_id) == (MessageStatus.ANSWERED, store_id)
            conversation = await session.get(Conversation, found.conversation_id)
            assert conversation is not None
            assert conversation.store_id == store_id
            for model in (AgentRun, ToolCall, ModelTurn, Reply, Job):
                stamps = set(
                    (
                        await session.execute(select(model.store_id).where(model.message_id == pk))
                    ).scalars()
                )
                assert stamps == {store_id}, (model.__name__, pk, stamps)


async def test_intake_routes_by_the_envelope_before_the_worker_runs(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    pk = await deliver(client, to="Sara's shops <x@example.org>", envelope_to=NORTH_ALIAS)

    async with db.read(ALL_STORES) as session:
        found = await session.get(Message, pk)
        [job] = (await session.execute(select(Job).where(Job.message_id == pk))).scalars()
    assert found is not None
    assert (found.store_id, job.store_id) == (stores.north_id, stores.north_id)


@pytest.mark.parametrize(
    "headers",
    [
        {"to": NORTH_ADDRESS},
        {"to": "Sara <sara.ahmadi@example.com>", "headers": [("Delivered-To", NORTH_ALIAS)]},
        {"to": "team@example.org", "headers": [("Cc", NORTH_ADDRESS)]},
    ],
    ids=["to", "delivered-to", "cc"],
)
async def test_mail_the_envelope_does_not_route_is_routed_by_its_headers(
    client: httpx.AsyncClient, db: Database, stores: TwoStores, headers: dict[str, Any]
) -> None:
    # Forwarded through the parse domain: the envelope names no store.
    pk = await deliver(client, envelope_to="inbound@parse.shop.test", **headers)
    assert (await message(db, pk)).store_id is None

    await drain(stores, order_answers(1))

    found = await message(db, pk)
    assert (found.status, found.store_id) == (MessageStatus.ANSWERED, stores.north_id)
    assert stores.sent_for(pk)["from"]["email"] == NORTH_ADDRESS
    async with db.read(ALL_STORES) as session:
        jobs = (await session.execute(select(Job).where(Job.message_id == pk))).scalars()
        assert {job.store_id for job in jobs} == {stores.north_id}


async def test_a_store_has_its_own_send_rules(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    async with db.write(ALL_STORES) as session:
        await session.execute(
            update(Store).where(Store.id == stores.north_id).values(shadow_mode=True)
        )
    a = await deliver(client, to=DEFAULT_ADDRESS, message_id="<a@example.com>")
    b = await deliver(client, to=NORTH_ADDRESS, message_id="<b@example.com>")
    await drain(stores, order_answers(2))

    assert (await message(db, a)).status == MessageStatus.ANSWERED
    [draft] = await replies_to(db, b)
    assert (draft.status, draft.from_address) == ("draft", NORTH_ADDRESS)
    assert draft.decision_reasons == ["shadow mode: every reply is a draft"]
    assert stores.sendgrid.call_count == 1


# --- Threads and caps stay inside their store --------------------------------------------------


async def test_a_reply_naming_the_other_stores_thread_never_joins_it(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    first = await deliver(client, to=DEFAULT_ADDRESS, message_id="<first@example.com>")
    await drain(stores, order_answers(1))
    answer = stores.sent_for(first)["headers"]["Message-ID"]
    threading = [("In-Reply-To", answer), ("References", f"<first@example.com> {answer}")]
    # The same customer answers that reply, once to its store and once to the other store.
    same = await deliver(
        client, to=DEFAULT_ADDRESS, message_id="<same@example.com>", headers=threading
    )
    other = await deliver(
        client, to=NORTH_ADDRESS, message_id="<other@example.com>", headers=threading
    )
    await drain(stores, order_answers(2))

    first_row, same_row, other_row = [await message(db, pk) for pk in (first, same, other)]
    assert same_row.conversation_id == first_row.conversation_id
    assert other_row.conversation_id != first_row.conversation_id
    assert other_row.replies_to_conversation_id is None
    async with db.read(ALL_STORES) as session:
        conversation = await session.get(Conversation, other_row.conversation_id)
    assert conversation is not None
    assert conversation.store_id == stores.north_id
    # The north reply threads under the customer's email, not under the other store's reply.
    [north_reply] = await replies_to(db, other)
    assert north_reply.in_reply_to == "<other@example.com>"


async def test_reply_caps_count_each_stores_replies(
    client: httpx.AsyncClient,
    db: Database,
    stores: TwoStores,
    make_settings: SettingsFactory,
) -> None:
    capped = make_settings(
        **LIVE_PROVIDERS, STORE_SECRET_KEYS=KEY, STORE_CACHE_SECONDS=0, REPLY_CAP_PER_SENDER=1
    )
    a1 = await deliver(client, to=DEFAULT_ADDRESS, message_id="<c-a1@example.com>")
    await drain(stores, order_answers(1), capped)
    b1 = await deliver(client, to=NORTH_ADDRESS, message_id="<c-b1@example.com>")
    a2 = await deliver(client, to=DEFAULT_ADDRESS, message_id="<c-a2@example.com>")
    await drain(stores, order_answers(2), capped)

    assert (await message(db, a1)).status == MessageStatus.ANSWERED
    # The default store's reply does not count against the north store's cap ...
    assert (await message(db, b1)).status == MessageStatus.ANSWERED
    # ... but it does against its own.
    held = await message(db, a2)
    assert held.status == MessageStatus.DRAFTED
    [draft] = await replies_to(db, a2)
    assert "guard: sender_reply_cap" in (draft.decision_reasons or [])


# --- Mail no store may answer ------------------------------------------------------------------


async def test_mail_to_no_stores_address_is_quarantined_and_never_answered(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    pk = await deliver(client, to="sales@elsewhere.example")
    await drain(stores, ScriptedLLM([]))

    found = await message(db, pk)
    assert (found.status, found.status_reason) == (MessageStatus.QUARANTINED, NO_STORE)
    assert found.store_id is None
    assert found.from_address == "sara.ahmadi@example.com"
    assert await replies_to(db, pk) == []
    assert stores.sendgrid.call_count == 0
    assert stores.default_route.call_count == stores.north_route.call_count == 0


@pytest.mark.parametrize("status", [StoreStatus.DISABLED, StoreStatus.UNINSTALLED])
async def test_mail_to_a_store_that_is_not_active_is_never_answered(
    client: httpx.AsyncClient, db: Database, stores: TwoStores, status: StoreStatus
) -> None:
    await set_north_status(db, stores.north_id, status)
    pk = await deliver(client, to=NORTH_ADDRESS)
    await drain(stores, ScriptedLLM([]))

    found = await message(db, pk)
    assert (found.status, found.store_id) == (MessageStatus.SKIPPED, stores.north_id)
    assert found.status_reason == f"the store 'north' is {status.value}: its mail is not answered"
    assert await replies_to(db, pk) == []
    assert stores.sendgrid.call_count == 0
    assert stores.north_route.call_count == 0


async def test_a_reply_queued_before_its_store_was_disabled_is_not_sent(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    # SendGrid is busy at the first attempt: the reply waits in the outbox for its retry.
    stores.sendgrid.side_effect = [httpx.Response(429, headers={"Retry-After": "1"})]
    pk = await deliver(client, to=NORTH_ADDRESS)
    worker = Worker(db=db, settings=stores.settings, providers=stores.use(order_answers(1)))
    assert await worker.run_once() is not None  # planned, filed, sent once: deferred
    [reply] = await replies_to(db, pk)
    assert reply.status == "failed"
    await set_north_status(db, stores.north_id, StoreStatus.UNINSTALLED)
    async with db.write(ALL_STORES) as session:
        await session.execute(update(Job).values(run_after=utcnow()))
    await worker.drain()

    [reply] = await replies_to(db, pk)
    assert (reply.status, reply.last_error) == ("dead", "not sent: the store is uninstalled")
    assert stores.sendgrid.call_count == 1


async def test_mail_from_another_stores_address_is_never_answered(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    # The north store's auto-acknowledgement reaches the default store: answering it would loop.
    pk = await deliver(
        client, to=DEFAULT_ADDRESS, sender=f"North Shop <{NORTH_ADDRESS}>", domain="north.example"
    )
    await drain(stores, ScriptedLLM([]))

    found = await message(db, pk)
    assert (found.status, found.store_id) == (MessageStatus.SKIPPED, DEFAULT_STORE_ID)
    assert found.status_reason == "own_address"
    assert await replies_to(db, pk) == []
    assert stores.sendgrid.call_count == 0


async def test_a_store_without_credentials_has_its_mail_held_for_a_person(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    async with db.write(ALL_STORES) as session:
        await session.execute(
            update(Store).where(Store.id == stores.north_id).values(credentials=None)
        )
    pk = await deliver(client, to=NORTH_ADDRESS)
    await drain(stores, ScriptedLLM([]))

    found = await message(db, pk)
    assert (found.status, found.store_id) == (MessageStatus.NEEDS_HUMAN, stores.north_id)
    assert found.status_reason == (
        "no shop to answer from, a person answers: "
        "the store 'north' has no Shopify domain and credentials"
    )
    assert await replies_to(db, pk) == []
    # Never answered from another store's shop.
    assert stores.default_route.call_count == stores.north_route.call_count == 0
    assert stores.sendgrid.call_count == 0


# --- Shops per store ---------------------------------------------------------------------------


async def test_a_stores_shop_is_built_once_and_again_when_its_credentials_change(
    db: Database, stores: TwoStores
) -> None:
    directory = StoreDirectory(db, stores.settings)
    north = await directory.get(stores.north_id)
    default = await directory.get(DEFAULT_STORE_ID)
    assert north is not None
    assert default is not None

    shop = await stores.providers.shop_for(north, directory.secrets)
    assert await stores.providers.shop_for(north, directory.secrets) is shop
    assert await stores.providers.shop_for(default, directory.secrets) is stores.providers.shop
    resealed = replace(north, sealed_credentials=SECRETS.seal({"admin_api_token": "shpat_new"}))
    assert await stores.providers.shop_for(resealed, directory.secrets) is not shop
    with pytest.raises(NoShop, match="cannot be opened"):
        await stores.providers.shop_for(
            replace(north, sealed_credentials=b"not-sealed"), directory.secrets
        )
    with pytest.raises(NoShop, match="no Admin API token"):
        await stores.providers.shop_for(
            replace(north, sealed_credentials=SECRETS.seal({"client_secret": "x"})),
            directory.secrets,
        )


async def test_with_only_the_default_store_mail_to_any_address_is_still_answered(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    # A single-store deployment never had to list its addresses: nothing changes for it.
    pk = await deliver(client, to="sales@elsewhere.example")
    await Worker(db=db, settings=settings, providers=providers).drain()

    found = await message(db, pk)
    assert found.store_id == DEFAULT_STORE_ID
    assert found.status in (MessageStatus.ANSWERED, MessageStatus.DRAFTED)
    [reply] = await replies_to(db, pk)
    assert reply.from_address == DEFAULT_ADDRESS
