"""The outside world the service talks to, built once from settings.

Without Shopify credentials the bundled demo store answers; without an OpenAI key the offline
rule-based model drives the agent; without a SendGrid key replies are written to MAIL_LOG_DIR.

The default store's shop comes from the environment (`shop`); every other store's is built from
its own domain and sealed Admin API token on first use (`shop_for`), and kept until its
credentials change. A store is only ever answered from its own shop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.agent.llm import LLM, GuardedLLM, OpenAIChatLLM, OpenAIResponsesLLM
from app.agent.offline import OfflineModel
from app.circuit import CircuitBreaker
from app.config import Settings
from app.db.stores import DEFAULT_STORE_ID
from app.intake.fetching import HttpxGet
from app.mail.adapter import HttpGet
from app.replies.links import LinkMaker, WithRatingLinks
from app.replies.senders import LogMailSender, MailSender, SendGridSender
from app.store.directory import StoreConfig
from app.store.models import PolicyKind
from app.store.protocol import Shop, ShopError
from app.store.secrets import SecretBox, SecretsUnavailable
from app.store.shopify import (
    ClientCredentialsToken,
    ShopifyGraphQL,
    ShopifyShop,
    StaticToken,
    TokenProvider,
)

POLICY_SUMMARY_TTL_SECONDS = 3600
POLICY_SUMMARY_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[^\d\s])[.!?](?:\s|$)")

ShopFactory = Callable[[StoreConfig, str], Shop]
"""Builds a store's shop from its settings and its decrypted Admin API token."""


class NoShop(Exception):
    """A store's shop cannot be reached with what is stored, so a person answers its mail.

    The message names the store and what is missing, never a credential.
    """


@dataclass(kw_only=True)
class Providers:
    """The adapters in use, and how to close them."""

    shop: Shop
    llm: LLM
    fallback_llm: LLM | None = None
    """What finishes an email while `llm` is unreachable (None: hand it to a person)."""
    mail: MailSender = field(default_factory=lambda: LogMailSender(Path("var/outbox")))
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shop_factory: ShopFactory | None = None
    """Builds the shops of stores other than the default (None: only the default has one)."""
    http_get: HttpGet | None = None
    """Fetches content an inbound provider sent by reference (None: such mail is quarantined)."""
    _summaries: dict[int, tuple[float, str]] = field(default_factory=dict)
    _shops: dict[int, tuple[tuple[str | None, bytes | None], Shop]] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Close connection pools (every store's shop shares the ones listed here)."""
        for close in self.closers:
            await close()
        self._shops.clear()

    async def shop_for(self, store: StoreConfig, secrets: SecretBox) -> Shop:
        """The store's own shop, never another store's.

        The default store's comes from the environment; any other is built from its domain
        and sealed Admin API token, and rebuilt when either changes.

        Raises:
            NoShop: the store has no domain or token, or its credentials cannot be opened.
        """
        if store.from_environment:
            return self.shop
        key = (store.shop_domain, store.sealed_credentials)
        cached = self._shops.get(store.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        if not store.shop_domain or not store.sealed_credentials:
            raise NoShop(f"the store {store.slug!r} has no Shopify domain and credentials")
        if self.shop_factory is None:
            raise NoShop(f"no shop can be built for the store {store.slug!r} in this process")
        try:
            token = secrets.open(store.sealed_credentials).get("admin_api_token")
        except SecretsUnavailable as exc:
            raise NoShop(
                f"the credentials of the store {store.slug!r} cannot be opened: {exc}"
            ) from None
        if not token:
            raise NoShop(f"the store {store.slug!r} has no Admin API token")
        shop = self.shop_factory(store, token)
        self._shops[store.id] = (key, shop)
        return shop

    async def policy_summary(
        self, shop: Shop | None = None, *, store_id: int = DEFAULT_STORE_ID
    ) -> str:
        """The opening sentences of a store's refund and shipping policies, cached for an hour.

        `shop` is the store's own (the default store's when None); each store has its summary.
        """
        now = time.monotonic()
        cached = self._summaries.get(store_id)
        if cached is not None and now - cached[0] < POLICY_SUMMARY_TTL_SECONDS:
            return cached[1]
        try:
            policies = await (shop or self.shop).get_policies()
        except ShopError:
            return ""
        sentences = []
        for policy in policies:
            if policy.kind in (PolicyKind.REFUND, PolicyKind.SHIPPING):
                opening = policy_opening(policy.text)
                if opening:
                    sentences.append(f"{policy.title}: {opening}")
        summary = " ".join(sentences)
        self._summaries[store_id] = (now, summary)
        return summary


def policy_opening(text: str, limit: int = POLICY_SUMMARY_CHARS) -> str:
    """The policy's first sentences up to `limit` characters, headings left out.

    Policies are written as headed sections ("Returns", then the rule), so a line without
    sentence punctuation is a heading; the rule itself ("within 30 days of delivery") is
    what the model needs in its prompt.
    """
    prose = " ".join(
        " ".join(line.split()) for line in text.splitlines() if _SENTENCE_END.search(line + " ")
    )
    opening = ""
    for match in _SENTENCE_END.finditer(prose):
        candidate = prose[: match.start() + 1]
        if len(candidate) > limit:
            break
        opening = candidate
    return opening or prose[:limit]


def build_providers(settings: Settings) -> Providers:
    """Build real adapters where credentials are set, embedded defaults elsewhere."""
    closers: list[Callable[[], Awaitable[None]]] = []
    shop = _build_shop(settings, closers)
    shops = store_shop_factory(settings, closers)
    mail = _build_mail(settings, closers)
    http_get = HttpxGet(timeout=settings.INBOUND_FETCH_TIMEOUT_SECONDS)
    closers.append(http_get.aclose)
    offline = OfflineModel()
    if settings.OPENAI_API_KEY is None:
        return Providers(
            shop=shop,
            llm=offline,
            mail=mail,
            closers=closers,
            shop_factory=shops,
            http_get=http_get,
        )
    # Imported only with a key: the SDK costs a third of a second and tens of MB at startup.
    from openai import AsyncOpenAI  # noqa: TID251 - the composition root builds the client for app/agent/llm.py.

    client = AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY.get_secret_value(),
        base_url=settings.OPENAI_BASE_URL,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
    closers.append(client.close)
    llm_class = OpenAIResponsesLLM if settings.OPENAI_API_MODE == "responses" else OpenAIChatLLM
    llm = GuardedLLM(
        llm_class(client, model=settings.OPENAI_MODEL, temperature=settings.OPENAI_TEMPERATURE),
        _breaker("openai", settings),
    )
    return Providers(
        shop=shop,
        llm=llm,
        fallback_llm=offline if settings.AGENT_OFFLINE_FALLBACK else None,
        mail=mail,
        closers=closers,
        shop_factory=shops,
        http_get=http_get,
    )


def store_shop_factory(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]]
) -> ShopFactory:
    """Build stores' shops on Shopify's Admin GraphQL API, sharing one connection pool.

    Each shop has its own circuit breaker, so one store's outage never stops another's mail.
    """
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.SHOPIFY_TIMEOUT_SECONDS, connect=5.0),
        headers={"User-Agent": "shop-support-mail"},
    )
    closers.append(http.aclose)

    def build(store: StoreConfig, token: str) -> Shop:
        domain = (store.shop_domain or "").strip().lower()
        client = ShopifyGraphQL(
            endpoint=f"https://{domain}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json",
            tokens=StaticToken(token),
            http=http,
            max_attempts=settings.SHOPIFY_MAX_ATTEMPTS,
            breaker=_breaker(f"shopify:{store.slug}", settings),
        )
        return ShopifyShop(client)

    return build


def _build_mail(settings: Settings, closers: list[Callable[[], Awaitable[None]]]) -> MailSender:
    """The mail sender, adding satisfaction links to replies when links can be made."""
    mail = _build_transport(settings, closers)
    secret, origin = settings.link_secret(), settings.public_url()
    if secret is None or origin is None:
        return mail
    links = LinkMaker(origin=origin, secret=secret)
    return WithRatingLinks(mail, links, days=settings.SATISFACTION_LINK_DAYS)


def _build_transport(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]]
) -> MailSender:
    if settings.MAILBOX_SMTP_HOST is not None:
        # Imported here: the SMTP and IMAP libraries load only with a connected mailbox.
        from app.intake.mailbox.sender import mailbox_sender

        return mailbox_sender(settings, closers, others=_build_provider_mail(settings, closers))
    return _build_provider_mail(settings, closers)


def _build_provider_mail(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]]
) -> MailSender:
    if settings.SENDGRID_API_KEY is None:
        return LogMailSender(Path(settings.MAIL_LOG_DIR))
    # No automatic retries here: the outbox owns retries, and must know whether a request left.
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.SENDGRID_TIMEOUT_SECONDS, connect=5.0),
        headers={"User-Agent": "shop-support-mail"},
    )
    closers.append(http.aclose)
    return SendGridSender(
        client=http,
        api_key=settings.SENDGRID_API_KEY,
        base_url=settings.SENDGRID_API_BASE_URL,
        sandbox=settings.SENDGRID_SANDBOX_MODE,
    )


def _build_shop(settings: Settings, closers: list[Callable[[], Awaitable[None]]]) -> Shop:
    if not settings.shopify_configured:
        # Imported here: the fixture-backed demo store loads only when it is the store in use.
        from app.store.demo import DemoShop

        return DemoShop()
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.SHOPIFY_TIMEOUT_SECONDS, connect=5.0),
        headers={"User-Agent": "shop-support-mail"},
    )
    closers.append(http.aclose)
    tokens: TokenProvider
    client_id, client_secret = settings.SHOPIFY_CLIENT_ID, settings.SHOPIFY_CLIENT_SECRET
    if settings.SHOPIFY_ACCESS_TOKEN is not None:
        tokens = StaticToken(settings.SHOPIFY_ACCESS_TOKEN.get_secret_value())
    elif client_id and client_secret:
        tokens = ClientCredentialsToken(
            token_url=settings.shopify_token_url,
            client_id=client_id,
            client_secret=client_secret.get_secret_value(),
            http=http,
        )
    else:  # pragma: no cover - Settings refuses half-configured credentials at startup.
        raise RuntimeError("Shopify credentials are incomplete")
    client = ShopifyGraphQL(
        endpoint=settings.shopify_endpoint,
        tokens=tokens,
        http=http,
        max_attempts=settings.SHOPIFY_MAX_ATTEMPTS,
        breaker=_breaker("shopify", settings),
    )
    return ShopifyShop(client)


def _breaker(name: str, settings: Settings) -> CircuitBreaker:
    return CircuitBreaker(
        name=name,
        threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        reset_seconds=settings.CIRCUIT_RESET_SECONDS,
    )
