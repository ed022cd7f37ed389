"""The offline model: keyword rules that drive the same agent loop when no language model is set.

It reads exactly what a language model reads (the instructions, the delimited email, the tool
results) and answers with the same kind of tool calls, so the service runs anywhere with no
keys and keeps working while OpenAI is down. It is honest about being simple: its confidence
stays below what the send policy needs to answer on its own, so its plans become drafts for a
person, with the facts already fetched. English and Persian are covered, plus the commonest
German, Spanish and French words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.agent.llm import ModelRequest, ModelResponse, ToolCallRequest, ToolOutput, UserText
from app.agent.loop import SUBMIT_TOOL
from app.agent.plan import HandoverReason, Intent
from app.tools.lookup import normalize_order_number

MODEL_NAME = "rules-2026-11"
_EMAIL = re.compile(r"<<<EMAIL (\w+)>>>\n(.*)\n<<<END EMAIL \1>>>", re.S)
_SUBJECT = re.compile(r"^Subject: (.*)$", re.M)
_HEADER_LINES = re.compile(r"^(?:From: .*\n)?Subject: .*$", re.M)
"""The From and Subject lines the agent writes above the email text: not the customer's words."""
_ORDER_CONTEXT = re.compile(
    r"(?:#\s*[0-9۰-۹٠-٩]{3,}|(?:order|bestellung|pedido|commande|سفارش|شماره)"
    r"[^0-9۰-۹٠-٩\n]{0,20}[0-9۰-۹٠-٩][0-9۰-۹٠-٩A-Za-z-]{2,})",
    re.I,
)

# Keyword rules per intent, strongest first. Patterns are matched on lower-cased text.
_RULES: list[tuple[Intent, tuple[str, ...]]] = [
    (
        Intent.HUMAN_REQUESTED,
        (
            r"\b(?:speak|talk) (?:to|with) (?:a |an )?(?:human|person|agent|manager|someone)",
            r"\b(?:real|actual) (?:human|person)\b",
            r"\bhuman being\b",
            r"\b(?:chat)?bots?\b",
            r"\bcall me\b",
            r"با (?:یک |یکی از )?(?:انسان|اپراتور|کارشناس|پشتیبان)",
            r"ربات",
            r"تماس بگیرید",
            r"\bmit (?:einem|einer) (?:menschen|mitarbeiter(?:in)?|person)\b",
            r"\brückruf\b",
            r"\bhablar con (?:una persona|alguien|un agente|un humano)\b",
            r"\bparler (?:à|avec) (?:un |une )?(?:conseill|personne|humain|quelqu)",
            r"\b(?:être|me) rappel",
        ),
    ),
    (
        Intent.CANCEL_ORDER,
        (
            r"\bcancel(?!l?ed\b)",
            r"\b(?:get|have|want|like) (?:it|this|that|my order|the order) cancell?ed\b",
            r"\bstornier",
            r"\bcancelar\b",
            r"\bannuler\b",
            r"(?:لغو|کنسل)(?! ?(?:کردم|شد|شده))",
        ),
    ),
    (
        Intent.CHANGE_ADDRESS,
        (
            r"\b(?:change|update|correct|wrong)\b.{0,30}(?<!e-mail )(?<!email )\baddress\b",
            r"\bnew (?:shipping )?address\b",
            r"\badresse ändern\b",
            r"\bcambiar (?:la )?dirección\b",
            r"تغییر آدرس",
            r"آدرس.{0,20}(?:عوض|اشتباه)",
        ),
    ),
    (
        Intent.REFUND,
        (
            r"\brefund",
            r"\bmoney back\b",
            r"\breimburs",
            r"\b(?:rück)?erstattung\b",
            r"\bgeld\b.{0,30}\bzurück",
            r"\breembolso\b",
            r"\bremboursement\b",
            r"بازپرداخت",
            r"استرداد",
            r"پول.{0,15}(?:برگرد|برگشت|برنگشت|پس)",
        ),
    ),
    (
        Intent.RETURN_OR_EXCHANGE,
        (
            r"\breturn(?!ed to sender)",
            r"\bexchange\b",
            r"\bsend (?:it |them )?back\b",
            r"\btoo (?:small|big|large|tight)\b",
            r"\bdoes(?:n't| not) fit\b",
            r"\bzurückschicken\b",
            r"\bumtausch",
            r"\bdevolver\b",
            r"\bdevoluci[oó]n\b",
            r"\bretourner\b",
            r"\béchang(?:e|er)\b",
            r"\brenvoyer\b",
            r"مرجوع",
            r"تعویض",
            r"برگردان",
        ),
    ),
    (
        Intent.SHIPPING_PROBLEM,
        (
            r"\bdamaged\b",
            r"\bbroken\b",
            r"\bnever (?:arrived|came|received)\b",
            r"\bnot (?:yet )?(?:arrived|received)\b",
            r"\b(?:lost|missing|stuck)\b",
            r"\bdelayed\b",
            r"\blate\b",
            r"\bwrong (?:item|size|colou?r|product|parcel|package)\b",
            r"\bbeschädigt\b",
            r"\bdañad[oa]s?\b",
            r"\b(?:abîmée?s?|endommagée?s?)(?!\w)",
            r"\bnoch nicht angekommen\b",
            r"نرسیده",
            r"آسیب",
            r"خراب",
            r"گم شده",
            r"تاخیر",
        ),
    ),
    (
        Intent.ORDER_STATUS,
        (
            r"\bwhere(?: is|'s|s) my (?:order|parcel|package)\b",
            r"\border status\b",
            r"\bstatus of (?:my |the |this )?order\b",
            r"\bwhere is (?:my |the )?order\b",
            r"\btrack(?:ing)?\b",
            r"\bshipped\b",
            r"\bwhen will\b.{0,40}\b(?:arrive|ship|come)\b",
            r"\bdelivery date\b",
            r"\bwo (?:ist|bleibt) meine bestellung\b",
            r"\bdónde está mi pedido\b",
            r"\boù (?:est|en est) ma commande\b",
            r"کجاست",
            r"وضعیت سفارش",
            r"پیگیری",
            r"کد رهگیری",
            r"کی (?:می‌رسد|میرسد|می‌رسه|میرسه|ارسال)",
        ),
    ),
    (
        Intent.BILLING,
        (
            r"\binvoice\b",
            r"\bcharged twice\b",
            r"\bdouble charge",
            r"\bpayment (?:failed|was declined|declined)\b",
            r"\breceipt\b",
            r"\bvat\b",
            r"\bbilling\b",
            r"\brechnung\b",
            r"\bfactura\b",
            r"فاکتور",
            r"دو بار.{0,20}(?:پرداخت|کسر)",
            r"از (?:کارت|حساب)م? ?(?:کم|کسر) (?:شده|شد)",
        ),
    ),
    (
        Intent.STOCK_OR_PRICE,
        (
            r"\b(?:back )?in stock\b",
            r"\bavailable\b",
            r"\bprice\b",
            r"\bhow much\b",
            r"\bdiscount\b",
            r"\bauf lager\b",
            r"\b(?:lieferbar|verfügbar)\b",
            r"\bpreis\b",
            r"\bkostet\b",
            r"\bprecio\b",
            r"\bcuesta\b",
            r"\bdisponibles?\b",
            r"\bprix\b",
            r"\bco[uû]tent?\b",
            r"موجود",
            r"قیمت",
            r"تخفیف",
        ),
    ),
    (
        Intent.PRODUCT_QUESTION,
        (
            r"\bsizes?\b",
            r"\bsizing\b",
            r"\btrue to size\b",
            r"\bmaterial\b",
            r"\bcolou?r\b",
            r"\bmade of\b",
            r"\bwash(?:able|ing)?\b",
            r"\bgröße\b",
            r"\bfarbe\b",
            r"\btalla\b",
            r"\btaille\b",
            r"\bcouleur\b",
            r"سایز",
            r"جنس",
            r"رنگ",
        ),
    ),
    (
        Intent.COMPLAINT,
        (
            r"\bterrible\b",
            r"\bunacceptable\b",
            r"\bworst\b",
            r"\bdisappointed\b",
            r"\bcomplain",
            r"\bfrustrat",
            r"\b(?:bad|awful|horrible|poor) (?:experience|service)\b",
            r"افتضاح",
            r"بدترین",
            r"ناراضی",
            r"شکایت",
            r"تجربه(?:\u200cی| ی)? بد",
        ),
    ),
    (
        Intent.PRAISE_OR_FEEDBACK,
        (
            r"\bthank you so much\b",
            r"\blove (?:it|the|my)\b",
            r"\bamazing\b",
            r"\bgreat (?:service|quality)\b",
            r"\bfeedback\b",
            r"\bsuggestion\b",
            r"عالی",
            r"راضی هستم",
            r"ممنونم",
            r"دست(?:تون|تان|ت) درد نکنه",
            r"پیشنهاد",
        ),
    ),
    (
        Intent.SPAM_OR_IRRELEVANT,
        (
            r"\bseo\b",
            r"\bbacklinks?\b",
            r"\bguest post\b",
            r"\bcrypto",
            r"\binvestment opportunit",
            r"\blottery\b",
            r"\bmarketing services\b",
            r"\bwebsite redesign\b",
            r"\bfirst page of google\b",
            r"\brank(?:ing)? (?:on|in) google\b",
            r"\bdo-?follow\b",
            r"\bsponsored (?:post|article|content)\b",
            r"\bfollowers\b",
            r"فالوور",
        ),
    ),
]
_ANGER = (
    r"\b(?:furious|angry|outraged|ridiculous|scam|fraud|disgusting|useless)\b",
    r"!!+",
    r"عصبانی",
    r"کلاهبرداری",
    r"مسخره",
)
# Text that talks to the machine rather than to the shop: a person should see the attempt.
_MANIPULATION = (
    r"\bignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|rules)",
    r"(?:^|\n)\s*(?:system|assistant|developer)\s*:",
    r"<<<|>>>|\bend email\b|\[/?(?:inst|system)\]",
    r"\byou are (?:now )?(?:an? )?(?:ai|assistant|language model|chatbot)\b",
    r"دستورالعمل(?:‌|\s)?(?:های)? قبلی را نادیده",
)
_LEGAL = (
    r"\b(?:lawyer|attorney|solicitor|sue|lawsuit|legal action|chargeback|small claims|"
    r"consumer protection)\b",
    r"\bavocat\b",
    r"\banwalt\b",
    r"\babogado\b",
    r"وکیل",
    r"دادگاه",
    r"اقدام قانونی",
)
_POLICY_QUESTION = (
    (r"\breturn policy\b|\bhow (?:long|many days)\b.{0,40}\breturn|\bcan i return\b", "returns"),
    (r"\brefund policy\b", "refunds"),
    (r"\bshipping (?:cost|time|policy|to)\b|\bdo you ship\b|\bdelivery time\b", "shipping"),
    (r"\bhow long (?:does|will|do) (?:the )?(?:delivery|shipping)\b", "shipping"),
    (r"\bcustoms\b|\bimport (?:vat|duty|duties|tax)\b", "shipping"),
    (r"شرایط (?:مرجوع|بازگشت)", "returns"),
    (r"هزینه ارسال", "shipping"),
)
_ORDER_INTENTS = {
    Intent.ORDER_STATUS,
    Intent.SHIPPING_PROBLEM,
    Intent.RETURN_OR_EXCHANGE,
    Intent.REFUND,
    Intent.CANCEL_ORDER,
    Intent.CHANGE_ADDRESS,
    Intent.BILLING,
}
# Refund requests are not proposed by the rules: they cannot tell "refund me" from "where is
# my refund?", and a person handles refunds from the drafted reply anyway.
_PROPOSALS = {
    Intent.CANCEL_ORDER: "cancel_order",
    Intent.RETURN_OR_EXCHANGE: "request_return",
}
_PROPOSABLE = {
    "cancel_order": frozenset({"processing", "on_hold"}),
    "request_return": frozenset({"delivered"}),
}
_PROPOSAL_CALL = "offline_proposal_"
GROUNDED_CONFIDENCE = 0.85
_STOPWORDS = frozenset(
    "a an the is are do does you your i my me we our it its this that have has in on of for to "
    "and or but with please hi hello dear thanks thank there back stock available price how much "
    "what which when any still size colour color again any can could would like want know".split()
)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rules make of an email."""

    intent: Intent
    hits: int
    rivals: int
    """How many other intents' rules also matched (0: the email is about one thing)."""
    language: str
    order_number: str | None
    angry: bool
    legal: bool
    manipulative: bool
    """The email tries to instruct the model (prompt injection)."""
    policy_topic: str | None
    product_words: str


def read_email(subject: str, text: str) -> Reading:
    """Classify an email with the keyword rules (pure; the eval and tests call it directly)."""
    body = f"{subject}\n{text}".lower()
    intent, hits, matched = Intent.OTHER, 0, 0
    for candidate, patterns in _RULES:
        count = sum(1 for pattern in patterns if re.search(pattern, body))
        matched += count > 0
        if count > hits:
            intent, hits = candidate, count
    order_match = _ORDER_CONTEXT.search(f"{subject}\n{text}")
    topic = next((t for pattern, t in _POLICY_QUESTION if re.search(pattern, body)), None)
    return Reading(
        intent=intent,
        hits=hits,
        rivals=max(0, matched - 1),
        language=detect_language(body),
        order_number=normalize_order_number(order_match.group(0)) if order_match else None,
        angry=any(re.search(p, body) for p in _ANGER),
        legal=any(re.search(p, body) for p in _LEGAL),
        manipulative=any(re.search(p, body) for p in _MANIPULATION),
        policy_topic=topic,
        product_words=_product_words(subject.lower()) or _product_words(text.lower()),
    )


def detect_language(text: str) -> str:
    """A BCP 47 tag from script and common words: fa, ar, de, es, fr, or en."""
    if re.search(r"[\u0600-\u06ff]", text):
        return "fa" if re.search(r"[پچژگکی]", text) else "ar"
    words = set(re.findall(r"[a-zäöüßáéíóúñàèç]+", text))
    scores = {
        "de": len(words & {"und", "ich", "nicht", "meine", "bestellung", "bitte", "danke", "ist"}),
        "es": len(
            words & {"el", "la", "mi", "pedido", "quiero", "gracias", "por", "favor", "está"}
        ),
        "fr": len(
            words & {"je", "ma", "mon", "commande", "merci", "est", "pour", "vous", "bonjour"}
        ),
    }
    best = max(scores, key=lambda key: scores[key])
    return best if scores[best] >= 2 else "en"


def _product_words(text: str) -> str:
    """The first few content words (the subject usually names the product)."""
    words = [w for w in re.findall(r"[a-zäöüßáéíóúñ]{3,}", text) if w not in _STOPWORDS]
    return " ".join(list(dict.fromkeys(words))[:3])


class OfflineModel:
    """A deterministic stand-in for a language model, driven by `read_email`."""

    kind = "offline"
    model = MODEL_NAME

    async def complete(self, request: ModelRequest) -> ModelResponse:
        email = next((i.text for i in request.items if isinstance(i, UserText)), "")
        found = _EMAIL.search(email)
        block = found.group(2) if found else email
        subject_match = _SUBJECT.search(block)
        subject = subject_match.group(1) if subject_match else ""
        # The subject is read on its own; the header lines themselves are not content (the
        # word "Subject" was taken for a product name when the subject had no Latin words).
        reading = read_email(subject, _HEADER_LINES.sub("", block, count=1))
        offered = {tool["name"] for tool in request.tools}
        outputs = [i for i in request.items if isinstance(i, ToolOutput)]
        if not outputs:
            calls = _lookups(reading, offered)
            if calls:
                return _response(calls)
        elif not any(o.call_id.startswith(_PROPOSAL_CALL) for o in outputs):
            proposal = _proposal(reading, outputs, offered)
            if proposal is not None:
                return _response([proposal])
        return _response([_submit(reading, outputs)])


def _lookups(reading: Reading, offered: set[str]) -> list[ToolCallRequest]:
    calls: list[tuple[str, dict[str, object]]] = []
    intent = reading.intent
    if intent in _ORDER_INTENTS and "get_order" in offered:
        if reading.order_number:
            calls.append(("get_order", {"order_number": reading.order_number}))
        else:
            calls.append(("list_my_orders", {"limit": 3}))
    if intent in (Intent.STOCK_OR_PRICE, Intent.PRODUCT_QUESTION) and reading.product_words:
        calls.append(("search_products", {"query": reading.product_words}))
    if reading.policy_topic and "get_store_policies" in offered:
        calls.append(("get_store_policies", {"topic": reading.policy_topic}))
    elif intent in (Intent.RETURN_OR_EXCHANGE, Intent.REFUND) and "get_store_policies" in offered:
        topic = "returns" if intent is Intent.RETURN_OR_EXCHANGE else "refunds"
        calls.append(("get_store_policies", {"topic": topic}))
    return [
        ToolCallRequest(call_id=f"offline_{n}", name=name, arguments=json.dumps(args))
        for n, (name, args) in enumerate(calls, start=1)
    ]


def _proposal(
    reading: Reading, outputs: list[ToolOutput], offered: set[str]
) -> ToolCallRequest | None:
    """Propose the store change asked for, once the order is seen and it is still possible."""
    tool_name = _PROPOSALS.get(reading.intent)
    order = _order_seen(outputs)
    if (
        tool_name is None
        or tool_name not in offered
        or order is None
        or reading.order_number is None
    ):
        return None
    if order.get("status") not in _PROPOSABLE[tool_name]:
        return None
    arguments: dict[str, object] = {
        "order_number": reading.order_number,
        "reason": f"The customer asked for this by email ({reading.intent.value}).",
    }
    if tool_name == "request_return":
        arguments["items"] = None
    return ToolCallRequest(
        call_id=f"{_PROPOSAL_CALL}1", name=tool_name, arguments=json.dumps(arguments)
    )


def _order_seen(outputs: list[ToolOutput]) -> dict[str, Any] | None:
    """The order a lookup in this run returned, if any."""
    for output in outputs:
        if not output.content.startswith("{"):
            continue
        try:
            data = json.loads(output.content)
        except ValueError:
            continue
        if isinstance(data, dict) and "order_number" in data and "status" in data:
            return data
    return None


def _submit(reading: Reading, outputs: list[ToolOutput]) -> ToolCallRequest:
    shown = [o.call_id for o in outputs if o.content.startswith("{")]
    reason: HandoverReason | None = None
    if reading.legal:
        reason = HandoverReason.LEGAL_THREAT
    elif reading.manipulative:
        reason = HandoverReason.SENSITIVE_TOPIC
    elif reading.intent is Intent.HUMAN_REQUESTED:
        reason = HandoverReason.PERSON_REQUESTED
    elif reading.angry or reading.intent is Intent.COMPLAINT:
        reason = HandoverReason.ANGER
    # Honest confidence: keyword rules alone never reach the send policy's threshold. Only an
    # unambiguous order-status question about an order the lookup found for this sender does:
    # its reply is then nothing but that order's own facts.
    confidence = 0.2 if reading.intent is Intent.OTHER else min(0.7, 0.5 + 0.1 * reading.hits)
    order = _order_seen(outputs)
    if (
        reading.intent is Intent.ORDER_STATUS
        and reading.rivals == 0
        and reason is None
        and order is not None
        # A delayed or held order is a problem to look into, not a status to report.
        and order.get("status") not in ("delayed", "on_hold")
    ):
        confidence = GROUNDED_CONFIDENCE
    arguments = {
        "intent": reading.intent.value,
        "confidence": confidence,
        "language": reading.language,
        "show_results_of": shown,
        "paragraph": "",
        "needs_human": reason is not None,
        "handover_reason": reason.value if reason else None,
    }
    return ToolCallRequest(
        call_id="offline_submit", name=SUBMIT_TOOL, arguments=json.dumps(arguments)
    )


def _response(calls: list[ToolCallRequest]) -> ModelResponse:
    return ModelResponse(
        text=None, tool_calls=tuple(calls), finish_reason="completed", model=MODEL_NAME
    )
