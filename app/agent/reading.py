"""The offline model's reading of an email: keyword rules for intent, order number, tone.

Pure functions over the subject and text (no model, no I/O). English and Persian are covered,
plus the commonest German, Spanish and French words. `app/agent/offline.py` turns a reading into
tool calls and a plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.agent.plan import Intent
from app.tools.kit.lookup import normalize_order_number

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
_HOW_TO = re.compile(
    r"\bsize (?:guide|chart)\b|\bwhat size\b|\bsizing\b|\bbetween (?:two )?sizes\b|"
    r"\b(?:run|runs|fit|fits) (?:true to size|small|large|big)\b|"
    r"\b(?:wash|washing|iron|ironing|dry[- ]clean|care for|take care)\b|"
    r"\bgift[- ]?(?:wrap|wrapping|message|note|box)\b|\bwrap (?:it|them)\b|"
    r"\b(?:warranty|guarantee|repair|resole)\b|\bcustoms\b|\bimport (?:vat|duty|duties|tax)\b|"
    r"\bship(?:ping)? (?:abroad|internationally|outside)\b|"
    r"\b(?:größentabelle|welche größe|waschen|pflege|geschenkverpackung|garantie|zoll|"
    r"guía de tallas|qué talla|lavar|envolver para regalo|garantía|aduana|"
    r"guide des tailles|quelle taille|laver|emballage cadeau|garantie|douane)\w*|"
    r"راهنمای سایز|چه سایزی|شستشو|شست‌?\s?و‌?\s?شو|بشوی|نگهداری|کادو|بسته‌?\s?بندی|"
    r"گارانتی|ضمانت|تعمیر|گمرک|خارج از کشور"
)
_SENTENCE = re.compile(r"[^.!?؟\n]*")
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
    how_to: str | None = None
    """The sentence asking how something works at the store (sizing, care, gifts...), if any."""


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
        how_to=how_to_question(subject, text),
    )


def how_to_question(subject: str, text: str) -> str | None:
    """The sentence (with the subject) that asks a how-to question, or None."""
    for part in (text, subject):
        found = _HOW_TO.search(part.lower())
        if found is None:
            continue
        start = max(part.rfind(mark, 0, found.start()) for mark in ".!?؟\n") + 1
        sentence = _SENTENCE.match(part, start)
        asked = sentence.group(0).strip() if sentence else ""
        return f"{subject.strip()} {asked}".strip()[:300] if part is text else asked[:300]
    return None


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
