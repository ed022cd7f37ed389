"""Checking a rendered reply before anything is sent: code, not the model, decides what leaves.

Every tracking number, amount and number in the reply must be backed by this email's tool
results or by the customer's own message (an amount in the model's paragraph only by tool
results); order numbers in the body only by tool results (a reply talks only about orders the
tools found for this sender, never about one the customer merely named: that may be someone
else's; the "Re:" subject may repeat the customer's own words);
email addresses only by tool results, our own and the recipient's. Links may only point at the
store's hosts and the hosts tool results returned (carrier tracking pages); the recipient must
be the verified sender. The model's paragraph may not commit to anything (an action taken or to
come, a day, a duration, an amount: `app.replies.commitments`); only templates do. Any problem
turns the reply into a draft for a person, with the reason.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from app.replies.commitments import find_amounts, find_commitments
from app.replies.readings import (
    NUMBER,
    link_hosts,
    number_readings,
    numbers_backing,
    numbers_stated,
    plain,
)
from app.replies.render import RenderedReply

_HREF = re.compile(r"""(?:href|src|action|background)\s*=\s*["']?([^"'\s>]+)""", re.I)
_URL = re.compile(r"""(?:https?://|www\.)[^\s<>"')\]]+""", re.I)
_ORDER_NUMBER = re.compile(r"#\s?([A-Za-z]{0,6}\d{3,}[A-Za-z0-9-]*)")
_CODE = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9-]{8,}\b|\b\d{10,}\b")
# The whole number after or before the currency: "€1,234.50" is 1234.50, never 1.23.
_AMOUNT = re.compile(
    rf"(?:(?:€|\$|£)|\b(?:EUR|USD|GBP|CHF|CAD|AUD))[^\S\n]?({NUMBER})"
    rf"|({NUMBER})[^\S\n]?(?:EUR|USD|GBP|CHF|CAD|AUD|€|\$|£)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_BARE_DOMAIN = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?![\w-])", re.I
)
_CODE_EDGE = "A-Za-z0-9-"
"""Characters that continue an order number or reference: "#100" is not "#1001"."""


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What a reply may draw on: this email's successful tool results and the customer's text."""

    tool_text: str
    customer_text: str
    link_hosts: frozenset[str]
    numbers: frozenset[Decimal]
    tool_numbers: frozenset[Decimal]
    """The numbers in the tool results alone: what may back an amount in the model's paragraph."""

    @property
    def text(self) -> str:
        """Tool results and the customer's words together."""
        return f"{self.tool_text}\n{self.customer_text}"


def gather_evidence(
    tool_results: Iterable[str], *, customer_text: str, store_hosts: Iterable[str]
) -> Evidence:
    """Collect the evidence: the JSON of the tool results that succeeded, the customer's text.

    Link hosts come from the store's settings and the tool results (carriers' tracking pages),
    never from the customer's text, so an email cannot smuggle a link into its own answer.
    """
    tool_text = plain("\n".join(tool_results))
    customer = plain(customer_text)
    hosts = {host.lower() for host in store_hosts if host}
    for url in _URL.findall(tool_text):
        # Only a link urllib and a browser agree on: a tool result's "https://x\\@carrier.example"
        # must not make carrier.example's look-alike allowed, nor the other way round.
        readings = link_hosts(url)
        if len(readings) == 1 and None not in readings:
            hosts |= {host for host in readings if host}
    # A number never runs across a line break, so reading the two texts apart reads the same.
    tool_numbers = frozenset(numbers_backing(tool_text))
    return Evidence(
        tool_text=tool_text,
        customer_text=customer,
        link_hosts=frozenset(hosts),
        numbers=tool_numbers | numbers_backing(customer),
        tool_numbers=tool_numbers,
    )


def verify_reply(
    reply: RenderedReply,
    *,
    evidence: Evidence,
    recipient: str,
    verified_sender: str | None,
    own_addresses: Iterable[str],
) -> list[str]:
    """Every reason this reply must not go out on its own (empty when it may)."""
    problems: list[str] = []
    if verified_sender is None:
        problems.append("recipient: the sender is not verified")
    elif recipient.lower() != verified_sender.lower():
        problems.append(f"recipient: {recipient} is not the verified sender")
    html = plain(reply.html)
    text = plain(f"{reply.subject}\n{reply.text}")
    if re.search(r"<\s*(?:img|iframe|object|embed|form|script|style|link|meta\s+http)", html, re.I):
        problems.append("content: the reply contains an image, frame, form or script")
    allowed_mail = {a.lower() for a in own_addresses} | {recipient.lower()}
    problems += _links(html, text, evidence, allowed_mail)
    # Both bodies: a customer reads one or the other, so a fact only in the HTML counts too.
    # The store's own words (a signature with prices or a phone number) are settings, not facts.
    body = f"{plain(reply.text)}\n{_visible_text(html)}"
    for words in reply.store_text:
        body = body.replace(plain(words), " ")
    subject = plain(reply.subject)
    problems += _order_numbers(subject, evidence.text)
    problems += _order_numbers(body, evidence.tool_text)
    problems += _facts(f"{subject}\n{body}", evidence, allowed_mail)
    paragraph = plain(reply.paragraph)
    problems += [commitment.problem() for commitment in find_commitments(paragraph)]
    problems += _paragraph_numbers(paragraph, evidence)
    problems += _paragraph_domains(paragraph, evidence)
    return list(dict.fromkeys(problems))


def _links(html: str, text: str, evidence: Evidence, allowed_mail: set[str]) -> list[str]:
    problems: list[str] = []
    # URLs anywhere in the HTML, attributes included (a style's url(...) loads too); character
    # references decoded first, as the browser does ("&#92;" is a backslash in an href).
    targets = [htmllib.unescape(href) for href in _HREF.findall(html)]
    targets += _URL.findall(text) + _URL.findall(htmllib.unescape(html))
    for target in targets:
        if target.lower().startswith("mailto:"):
            address = target[7:].split("?", 1)[0].lower()
            if address not in allowed_mail:
                problems.append(f"link: mailto {address} is not ours or the customer's")
            continue
        # Every reading of the link must be allowed: a browser's and urllib's.
        for host in sorted(link_hosts(target), key=str):
            if host is None or host not in evidence.link_hosts:
                problems.append(f"link: {host or target[:60]} is not an allowed host")
    return problems


def _order_numbers(text: str, backing: str) -> list[str]:
    return [
        f"order number #{number} is not in this email's tool results"
        for number in _ORDER_NUMBER.findall(text)
        if not _mentions(backing, number, edge=_CODE_EDGE)
    ]


def _facts(text: str, evidence: Evidence, allowed_mail: set[str]) -> list[str]:
    problems: list[str] = []
    for code in _CODE.findall(text):
        if not _mentions(evidence.text, code, edge=_CODE_EDGE):
            problems.append(f"reference {code} is not in this email's tool results")
    for match in _AMOUNT.finditer(text):
        # Every value a reader may take the amount for must be backed ("€1,234" is 1234 or 1.234).
        if not number_readings(match.group(1) or match.group(2)) <= evidence.numbers:
            problems.append(f"amount {match.group(0).strip()} is not in this email's tool results")
    # Addresses only from tool results or our own: an address the email itself mentions
    # ("send it to my friend at ...") never appears in the answer.
    for address in _EMAIL.findall(_without_urls(text)):
        lowered = address.lower()
        if lowered not in allowed_mail and not _mentions(
            evidence.tool_text, address, edge="A-Za-z0-9._%+-"
        ):
            problems.append(f"email address {address} is not ours or the customer's")
    return problems


def _paragraph_numbers(paragraph: str, evidence: Evidence) -> list[str]:
    """The model's paragraph may only use numbers the tools or the customer gave.

    An amount of money only the tools: the customer writing "refund me 5000 EUR" must not let
    the model's "we refund 5000 EUR" pass as if the store had confirmed it.
    """
    problems: list[str] = []
    for written in find_amounts(paragraph):
        stated = numbers_stated(written)
        if stated and not all(readings <= evidence.tool_numbers for _, readings in stated):
            problems.append(
                f"amount {written} in the model's paragraph is not in this email's tool results"
            )
    for raw, readings in numbers_stated(paragraph):
        if not readings <= evidence.numbers:
            problems.append(f"the model's paragraph states {raw}, which no tool result backs")
    return problems


def _paragraph_domains(paragraph: str, evidence: Evidence) -> list[str]:
    """A bare "evil.example/refund" in the model's words: mail clients turn it into a link."""
    problems: list[str] = []
    for domain in _BARE_DOMAIN.findall(_EMAIL.sub(" ", paragraph)):
        host = domain.lower()
        if host not in evidence.link_hosts:
            problems.append(f"link: {host} in the model's paragraph is not an allowed host")
    return problems


def _mentions(haystack: str, token: str, *, edge: str) -> bool:
    """Whether `token` occurs in `haystack` as a whole (not inside a longer code or address)."""
    inner = edge.replace(".", "")  # a full stop after it may end the sentence
    pattern = rf"(?<![{edge}]){re.escape(token)}(?!\.?[{inner}])"
    return re.search(pattern, haystack, re.I) is not None


def _visible_text(html: str) -> str:
    """The HTML's text as a reader sees it: tags dropped, entities decoded."""
    return plain(htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def _without_urls(text: str) -> str:
    return _URL.sub(" ", text)
