"""The demo's sample deliveries: each bundled email as its provider would post it, and the posting.

`samples/samples.json` lists the deliveries in order. An entry without `provider` is a SendGrid
Inbound Parse post (raw mode from `eml`, parsed mode from `fields`); one with `provider` is that
provider's webhook request built from `eml` (`app.demo.provider_posts`, and for Resend and Amazon
SES `app.demo.outside_world`). `DemoWorld` holds what the providers and the service share for one
run: the webhook credentials and signing secrets (random demo values made for the run, never
real ones), the SNS signing key and its certificate, and the fake of the provider APIs the worker
fetches from.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from app.demo import outside_world, provider_posts
from app.demo.outside_world import FakeWeb, SnsSigner
from app.demo.provider_posts import ProviderPost
from app.demo.sendgrid_posts import Transport, parsed_mode_post, raw_mode_post
from app.mail.providers.sparkpost import RELAY_HEADER

SAMPLES = Path(__file__).parent / "samples"
SENDGRID = "sendgrid"
RESEND_API_BASE_URL = "https://api.resend.com"
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:demo-store-inbound"
# Providers whose webhook URL carries the Basic credentials (SparkPost sends its token in a
# header instead; Resend and SES sign their posts and take no credentials).
_BASIC_AUTH = frozenset({SENDGRID, "mailgun", "postmark", "mailersend", "mailjet", "brevo"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample delivery: a description, the provider that posts it, and its request."""

    name: str
    provider: str
    post: ProviderPost

    @property
    def route(self) -> str:
        """The webhook path it is posted to."""
        return f"/webhooks/{self.provider}/inbound"


@dataclass
class DemoWorld:
    """One run's credentials, signing keys and fake provider APIs (demo values only)."""

    basic_user: str = "demo-inbound"
    basic_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    mailgun_key: str = field(default_factory=lambda: "demo-mailgun-" + secrets.token_hex(16))
    mailersend_secret: str = field(default_factory=lambda: "demo-ms-" + secrets.token_hex(16))
    resend_key: bytes = field(default_factory=lambda: secrets.token_bytes(24))
    resend_api_key: str = field(default_factory=lambda: "re_demo_" + secrets.token_hex(12))
    sns: SnsSigner = field(default_factory=lambda: _sns_signer())
    web: FakeWeb = field(default_factory=FakeWeb)

    def __post_init__(self) -> None:
        self.web.serve(self.sns.cert_url, outside_world.certificate_pem(self.sns.key))

    def settings(self) -> dict[str, Any]:
        """The Settings fields that configure every provider's route for this world."""
        return {
            "INBOUND_BASIC_AUTH_USER": self.basic_user,
            "INBOUND_BASIC_AUTH_PASSWORD": self.basic_password,
            "INBOUND_SIGNING_PUBLIC_KEY": None,
            "MAILGUN_SIGNING_KEY": self.mailgun_key,
            "MAILERSEND_SIGNING_SECRET": self.mailersend_secret,
            "RESEND_SIGNING_SECRET": outside_world.resend_secret(self.resend_key),
            "RESEND_API_KEY": self.resend_api_key,
            "RESEND_API_BASE_URL": RESEND_API_BASE_URL,
            "SES_SNS_TOPIC_ARNS": [self.sns.topic],
        }

    def transport(self) -> httpx.MockTransport:
        """The worker's and the webhooks' HTTP: the fake provider APIs, in process."""
        return self.web.transport()

    def build(self, provider: str, eml: bytes) -> ProviderPost:
        """`eml` as `provider`'s webhook request, signed for this world where it signs."""
        builders: dict[str, Callable[[bytes], ProviderPost]] = {
            "mailgun": lambda raw: provider_posts.mailgun_post(
                raw, key=self.mailgun_key, timestamp=int(time.time())
            ),
            "postmark": provider_posts.postmark_post,
            "mailersend": lambda raw: provider_posts.mailersend_post(
                raw, secret=self.mailersend_secret
            ),
            "mailjet": provider_posts.mailjet_post,
            "sparkpost": provider_posts.sparkpost_post,
            "brevo": provider_posts.brevo_post,
            "resend": self._resend,
            "amazon_ses": self._amazon_ses,
        }
        return builders[provider](eml)

    def _resend(self, eml: bytes) -> ProviderPost:
        """The event, with the email it names served by the fake Resend API and CDN."""
        email_id = str(uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(eml).hexdigest()))
        download = f"https://inbound-cdn.resend.com/{email_id}/raw?signature=demo&expires=0"
        found = outside_world.resend_received_email(eml, email_id, download)
        self.web.serve(f"{RESEND_API_BASE_URL}/emails/receiving/{email_id}", _json(found))
        self.web.serve(download, eml)
        body = _json(outside_world.resend_received_event(eml, email_id))
        headers = outside_world.svix_headers(
            body, key=self.resend_key, message_id=f"msg_{secrets.token_hex(8)}"
        )
        return ProviderPost(body, headers)

    def _amazon_ses(self, eml: bytes) -> ProviderPost:
        notification = outside_world.ses_received_notification(eml, topic=self.sns.topic)
        return outside_world.ses_post(self.sns, notification, str(uuid.uuid4()))

    def auth(self, provider: str) -> tuple[str, str] | None:
        """The Basic credentials of `provider`'s webhook URL, if it carries them."""
        return (self.basic_user, self.basic_password) if provider in _BASIC_AUTH else None

    def headers(self, sample: Sample) -> dict[str, str]:
        """The request's headers, SparkPost's relay token among them."""
        if sample.provider == "sparkpost":
            return sample.post.headers | {RELAY_HEADER: self.basic_password}
        return sample.post.headers


def _sns_signer() -> SnsSigner:
    # A certificate URL of its own per run: the service keeps fetched certificates by URL.
    cert_url = (
        "https://sns.us-east-1.amazonaws.com/"
        f"SimpleNotificationService-demo{secrets.token_hex(8)}.pem"
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SnsSigner(key=key, cert_url=cert_url, topic=SNS_TOPIC)


def _json(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def load_samples(world: DemoWorld) -> list[Sample]:
    """Build every sample delivery listed in `samples/samples.json`."""
    manifest = json.loads((SAMPLES / "samples.json").read_text(encoding="utf-8"))
    samples: list[Sample] = []
    for entry in manifest["samples"]:
        provider = entry.get("provider", SENDGRID)
        if provider == SENDGRID:
            post = _sendgrid_post(entry)
        else:
            post = world.build(provider, (SAMPLES / entry["eml"]).read_bytes())
        samples.append(Sample(name=entry["name"], provider=provider, post=post))
    return samples


def _sendgrid_post(entry: dict[str, Any]) -> ProviderPost:
    transport_spec: dict[str, str] = entry["transport"]
    transport = Transport(
        envelope_from=transport_spec["envelope_from"],
        spf=transport_spec["SPF"],
        dkim=transport_spec["dkim"],
        spam_score=transport_spec.get("spam_score"),
    )
    if "fields" in entry:
        fields = {name: (f["charset"], f["value"]) for name, f in entry["fields"].items()}
        post = parsed_mode_post(fields, transport)
    else:
        eml = (SAMPLES / entry["eml"]).read_bytes() if entry["eml"] else b""
        post = raw_mode_post(eml, transport)
    return ProviderPost(post.body, {"content-type": post.content_type})


@dataclass(frozen=True, slots=True)
class Posted:
    """A sample as posted: the webhook's status code and its JSON answer (with the time taken)."""

    sample: Sample
    status_code: int
    ack: dict[str, Any]


async def post_samples(base_url: str, world: DemoWorld) -> list[Posted]:
    """Post every sample to its provider's route on the service at `base_url`, in order."""
    results = []
    async with httpx.AsyncClient(timeout=30) as client:
        for sample in load_samples(world):
            started = time.perf_counter()
            response = await client.post(
                base_url + sample.route,
                content=sample.post.body,
                headers=world.headers(sample),
                auth=world.auth(sample.provider) or httpx.USE_CLIENT_DEFAULT,
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:200]}
            if not isinstance(body, dict):
                body = {"detail": str(body)[:200]}
            body["elapsed_ms"] = elapsed_ms
            results.append(Posted(sample, response.status_code, body))
    return results
