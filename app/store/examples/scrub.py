"""Customer data out of a text: the values known from the email, then patterns.

An example shown to the model for another customer's email must carry nothing of the customer
it came from. Two passes, in this order:

1. the values known for this email (`Known`): the sender's From name and address, and what its
   tool results said (customer and recipient names, emails, order numbers, address lines,
   phones, tracking numbers and pages, amounts), longest first, case-insensitively, as whole
   words; each part of a name on its own too ("Sara Ahmadi" also takes "Sara");
2. patterns for what nobody looked up: URLs, email addresses, phone numbers, amounts with a
   currency, order numbers (`#1001`, "order 1001"), tracking-like codes, long digit runs,
   street addresses, and a name signed under a sign-off line.

Placeholders are bracketed words (`[name]`, `[order]`...) that no later pattern matches. Persian
and Arabic-Indic digits are made ASCII and Arabic yeh/kaf Persian first, so a value is found
however it was typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAME, EMAIL, ORDER, ADDRESS, PHONE = "[name]", "[email]", "[order]", "[address]", "[phone]"
TRACKING, AMOUNT, LINK, NUMBER = "[tracking]", "[amount]", "[link]", "[number]"
PLACEHOLDERS = (NAME, EMAIL, ORDER, ADDRESS, PHONE, TRACKING, AMOUNT, LINK, NUMBER)

_UNIFY = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي → ی
        "\u0643": "\u06a9",  # ك → ک
        **{chr(0x06F0 + d): str(d) for d in range(10)},
        **{chr(0x0660 + d): str(d) for d in range(10)},
    }
)
_KEYS: Mapping[str, str] = {
    "name": NAME,
    "customer_name": NAME,
    "first_name": NAME,
    "last_name": NAME,
    "email": EMAIL,
    "customer_email": EMAIL,
    "order_number": ORDER,
    "order_name": ORDER,
    "order_id": ORDER,
    "reference": ORDER,
    "id": ORDER,
    "address1": ADDRESS,
    "address2": ADDRESS,
    "city": ADDRESS,
    "zip": ADDRESS,
    "phone": PHONE,
    "number": TRACKING,
    "tracking_number": TRACKING,
    "url": LINK,
    "status_page_url": LINK,
    "amount": AMOUNT,
}
"""Keys of tool results (and arguments) whose values are customer data, and their placeholder."""

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.I)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.I)
_PHONE = re.compile(r"(?<![\w#])\+?\d[\d \t().-]{6,}\d(?!\w)")
_CURRENCY = r"(?:[$€£¥₹﷼]|usd|eur|gbp|cad|aud|chf|sek|irr|irt|toman|tomans|rial|rials|تومان|ریال)"
_AMOUNT = re.compile(rf"{_CURRENCY}\s?\d[\d,.]*|\d[\d,.]*\s?{_CURRENCY}(?![a-z])", re.I)
_ORDER = re.compile(
    r"#\s?\d[\w-]*|(?<=\border )\d[\w-]{2,}|(?<=\border no\. )\d[\w-]{2,}"
    r"|(?<=\bbestellung )\d[\w-]{2,}|(?<=\bpedido )\d[\w-]{2,}|(?<=\bcommande )\d[\w-]{2,}"
    r"|(?<=سفارش )\d[\w-]{2,}|(?<=شماره )\d[\w-]{2,}",
    re.I,
)
# A code mixing letters and at least four digits, 8+ characters: a tracking or parcel number.
_CODE = re.compile(
    r"\b(?=[A-Za-z0-9]*\d[A-Za-z0-9]*\d[A-Za-z0-9]*\d[A-Za-z0-9]*\d)[A-Za-z0-9]{8,}\b"
)
_DIGITS = re.compile(r"(?<![\w.,])\d{4,}(?![\w])")
_STREET = re.compile(
    r"\b\d{1,5}[a-z]?,?\s+(?:[\w'.-]+\s+){0,3}"
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|"
    r"square|sq|terrace|close)\b\.?"
    r"|\b(?:[\w'.-]+)(?:straße|strasse|str\.|weg|gasse|platz)\s*\d{1,5}[a-z]?\b"
    r"|\b(?:calle|avenida|rue|avenue|boulevard|via)\s+(?:[\w'.-]+\s+){0,3}\d{1,5}\b"
    r"|(?:خیابان|کوچه|بلوار|میدان|پلاک|واحد|طبقه)\s+[^\s،,.]+(?:\s+[^\s،,.]+)?",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:thanks|thank you|many thanks|regards|best|best regards|kind regards|cheers|"
    r"sincerely|yours|danke|grüße|viele grüße|gracias|saludos|merci|cordialement|"
    r"ممنون|با تشکر|سپاس|با سپاس|قربان شما)[\s,!.]*$",
    re.I,
)
_INTRODUCED = re.compile(
    r"(?<=\bmy name is )[^\s,.!?]+(?: [^\s,.!?]+)?|(?<=\bi am )[A-Z][\w'-]+(?= [A-Z][\w'-]+)"
    r"|(?<=\bich bin )[A-ZÄÖÜ][\w'-]+|(?<=\bme llamo )[^\s,.!?]+|(?<=\bje m'appelle )[^\s,.!?]+"
    r"|(?<=اسم من )[^\s،,.]+|(?<=من )[^\s،,.]+(?= هستم)",
)
_LONE_NAME = re.compile(r"^[^\W\d_][\w'.-]*(?: [^\W\d_][\w'.-]*){0,2}$")
MIN_PART = 2
"""A name part shorter than this is not replaced on its own (an initial is no one)."""


@dataclass
class Known:
    """The customer data known for one email: (value, placeholder) pairs."""

    values: dict[str, str] = field(default_factory=dict)
    """Value as written → placeholder."""

    def add(self, value: object, placeholder: str) -> None:
        """Remember one value (names also part by part); blanks and tiny values are skipped."""
        if isinstance(value, bool) or value is None:
            return
        text = _unify(str(value)).strip()
        if len(text) < MIN_PART:
            return
        if placeholder == NAME and re.fullmatch(r"#\s?\d[\w-]*", text):
            placeholder = ORDER  # An order's (or a return's) `name` is its number.
        self.values.setdefault(text, placeholder)
        if placeholder == ORDER and text.startswith("#"):
            self.values.setdefault(text.lstrip("# "), ORDER)
        if placeholder == ORDER and text.startswith("gid://"):
            self.values.setdefault(text.rsplit("/", 1)[-1], ORDER)
        if placeholder == EMAIL and "@" in text:
            self.values.setdefault(text.split("@", 1)[0], EMAIL)
        if placeholder == NAME:
            for part in re.split(r"[\s,]+", text):
                if len(part) >= MIN_PART:
                    self.values.setdefault(part, NAME)

    def add_sender(self, name: str | None, address: str | None) -> None:
        """The From header's display name and address."""
        self.add(name, NAME)
        self.add(address, EMAIL)

    def add_facts(self, payload: Any) -> None:
        """Every customer value in a tool result or arguments (nested JSON), by its key."""
        if isinstance(payload, Mapping):
            for key, value in payload.items():
                placeholder = _KEYS.get(str(key).lower())
                if placeholder is not None and not isinstance(value, Mapping | list):
                    self.add(value, placeholder)
                else:
                    self.add_facts(value)
        elif isinstance(payload, list | tuple):
            for item in payload:
                self.add_facts(item)


def scrub(text: str, known: Known | None = None) -> str:
    """`text` with every known value and every pattern of customer data replaced."""
    text = _unify(text)
    if known is not None and known.values:
        text = _replace_known(text, known.values)
    text = _URL.sub(LINK, text)
    text = _EMAIL.sub(EMAIL, text)
    text = _AMOUNT.sub(AMOUNT, text)
    text = _ORDER.sub(ORDER, text)
    text = _STREET.sub(ADDRESS, text)
    text = _PHONE.sub(PHONE, text)
    text = _CODE.sub(TRACKING, text)
    text = _DIGITS.sub(NUMBER, text)
    text = _INTRODUCED.sub(NAME, text)
    return _signed_names(text)


def carries_no(values: Iterable[str], text: str) -> bool:
    """Whether none of `values` appears in `text` (case-insensitively), for checks and tests."""
    folded = _unify(text).casefold()
    return not any(_unify(v).casefold() in folded for v in values if v)


def _unify(text: str) -> str:
    return text.translate(_UNIFY)


def _replace_known(text: str, values: Mapping[str, str]) -> str:
    ordered = sorted(values, key=len, reverse=True)
    # Whole words: "Sara" is not taken out of "Sarah", but a value that starts or ends with a
    # non-word character ("#1001", "sara@x.com") matches wherever it stands.
    pattern = re.compile(
        "|".join(
            (r"(?<!\w)" if v[0].isalnum() or v[0] == "_" else "")
            + re.escape(v)
            + (r"(?!\w)" if v[-1].isalnum() or v[-1] == "_" else "")
            for v in ordered
        ),
        re.I,
    )
    folded = {v.casefold(): p for v, p in values.items()}
    return pattern.sub(lambda m: folded.get(m.group(0).casefold(), NAME), text)


def _signed_names(text: str) -> str:
    """A short line of one to three words under a sign-off line is a signature: a name."""
    lines = text.split("\n")
    for index in range(1, len(lines)):
        if _SIGN_OFF.match(lines[index - 1]) and _LONE_NAME.match(lines[index].strip()):
            if lines[index].strip() not in PLACEHOLDERS:
                lines[index] = NAME
    return "\n".join(lines)
