"""Properties of the verifier: a number or a link the evidence lacks never passes.

Numbers are written every way a reply may write them (grouped 1,234.50 / 1.234,50 / 1 234,50 /
1'234.50 / 12,34,567.50; Persian, Arabic-Indic, Devanagari and full-width digits; between bidi
controls); the evidence holds look-alikes (the number's groups, its integral part, a digit
short, a thousandth of it). Links carry a host no evidence names, hidden behind user info,
backslashes, percent-encoding, odd slashes, case or character references; the host they are
built around is the one a browser (WHATWG URL rules) goes to.
"""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from app.replies.render import RenderedReply
from app.replies.verify import Evidence, gather_evidence, verify_reply

SARA = "sara@example.com"
STORE_HOSTS = ("demo-store.example",)
TRACKING_URL = "https://www.dhl.de/track?piececode=00340434161094015902"
ALLOWED = ("demo-store.example", "www.dhl.de")

_DIGITS = {
    "ascii": "0123456789",
    "persian": "۰۱۲۳۴۵۶۷۸۹",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "devanagari": "०१२३४५६७८९",
    "full-width": "０１２３４５６７８９",
}
# (group mark, decimal mark) pairs as locales write them.
_STYLES = [
    ("", "."),
    ("", ","),
    (",", "."),
    (".", ","),
    (" ", ","),
    ("\u00a0", ","),
    ("\u202f", ","),
    ("'", "."),
    ("’", "."),
    ("٬", "٫"),
    ("indian", "."),
]

amounts = st.decimals(
    min_value=Decimal(0), max_value=Decimal("99999999.99"), places=2, allow_nan=False
)


def written(value: Decimal, style: tuple[str, str], digits: str, places: int) -> str:
    """`value` written with a locale's group and decimal marks and a script's digits."""
    group, point = style
    integral, _, fraction = f"{value:.{places}f}".partition(".")
    if group == "indian" and len(integral) > 3:
        head, tail = integral[:-3], integral[-3:]
        pairs = [head[max(0, i - 2) : i] for i in range(len(head), 0, -2)][::-1]
        integral = ",".join([*pairs, tail])
    elif group and group != "indian":
        triples = [integral[max(0, i - 3) : i] for i in range(len(integral), 0, -3)][::-1]
        integral = group.join(triples)
    text = f"{integral}{point}{fraction}" if fraction else integral
    return text.translate(str.maketrans("0123456789", digits))


@st.composite
def stated_numbers(draw: st.DrawFn) -> tuple[Decimal, str]:
    value = draw(amounts)
    places = 2 if value != value.to_integral_value() else draw(st.sampled_from([0, 2]))
    text = written(
        value,
        draw(st.sampled_from(_STYLES)),
        _DIGITS[draw(st.sampled_from(sorted(_DIGITS)))],
        places,
    )
    if draw(st.booleans()):
        text = f"\u2066{text}\u2069"
    return value.quantize(Decimal(10) ** -places), text


def look_alikes(value: Decimal) -> set[Decimal]:
    """Numbers close to `value` in writing: what a sloppy reader would take as backing it."""
    integral, _, fraction = f"{value:.2f}".partition(".")
    near = {Decimal(integral), Decimal(fraction), value / 1000, value * 10, value + 1}
    near |= {Decimal(integral[i : i + 3]) for i in range(0, len(integral), 3)}
    near |= {Decimal(integral[:-1] or "0"), Decimal(f"{integral[:4]}.{integral[4:6] or '0'}")}
    return {n.quantize(Decimal("0.01")) for n in near}


def evidence_with(numbers: set[Decimal], stated: Decimal) -> Evidence:
    """Evidence holding `numbers` (never `stated`), each written plainly, in a tool result and
    in the customer's words."""
    backing = sorted(n for n in numbers if n != stated)
    tool = json.dumps(
        {"tracking_url": TRACKING_URL, "values": [f"{n:f}" for n in backing]}, ensure_ascii=False
    )
    customer = "Hi, I counted " + " and ".join(f"{n:f}" for n in backing[::2]) + " here."
    return gather_evidence([tool], customer_text=customer, store_hosts=STORE_HOSTS)


def reply(*, paragraph: str = "", text_extra: str = "", html_extra: str = "") -> RenderedReply:
    """A plain English reply: a greeting, the model's paragraph, the store's sign-off."""
    escaped = paragraph.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return RenderedReply(
        subject="Re: Your order",
        text=f"Hello Sara,\n\n{paragraph}\n{text_extra}\n\nDemo Store\n",
        html=(
            f"<html><body><p>Hello Sara,</p><p>{escaped}</p>{html_extra}"
            "<p>Demo Store</p></body></html>"
        ),
        language="en",
        direction="ltr",
        template="order_status",
        paragraph=paragraph,
        store_text=("Demo Store",),
    )


def problems(rendered: RenderedReply, evidence: Evidence) -> list[str]:
    return verify_reply(
        rendered, evidence=evidence, recipient=SARA, verified_sender=SARA, own_addresses=()
    )


# --- Numbers ----------------------------------------------------------------------------------


@given(stated=stated_numbers(), extra=st.sets(amounts, max_size=4))
@example(stated=(Decimal("1234.50"), "1,234.50"), extra={Decimal("1.23"), Decimal("50")})
@example(stated=(Decimal("1234.50"), "۱٬۲۳۴٫۵۰"), extra={Decimal("234.50")})
@example(stated=(Decimal("1234"), "1,234"), extra={Decimal("1.23")})
def test_a_number_in_the_paragraph_that_the_evidence_lacks_never_passes(
    stated: tuple[Decimal, str], extra: set[Decimal]
) -> None:
    value, text = stated
    evidence = evidence_with(look_alikes(value) | extra, value)

    found = problems(reply(paragraph=f"We counted {text} for you."), evidence)

    assert any("paragraph states" in p for p in found), (text, found)


@given(
    stated=stated_numbers(),
    currency=st.sampled_from(["€", "$", "£", "EUR ", "USD\u00a0", "CHF"]),
    before=st.booleans(),
    in_html=st.booleans(),
)
@example(stated=(Decimal("1234.50"), "1,234.50"), currency="€", before=True, in_html=False)
@example(stated=(Decimal("1234.50"), "1.234,50"), currency="€", before=False, in_html=True)
def test_an_amount_anywhere_in_the_reply_that_the_evidence_lacks_never_passes(
    stated: tuple[Decimal, str], currency: str, before: bool, in_html: bool
) -> None:
    value, text = stated
    amount = f"{currency}{text}" if before else f"{text} {currency.strip()}"
    line = f"We refunded {amount} to your card."
    rendered = reply(html_extra=f"<p>{line}</p>") if in_html else reply(text_extra=line)

    found = problems(rendered, evidence_with(look_alikes(value), value))

    assert any(p.startswith("amount ") for p in found), (amount, found)


@given(stated=stated_numbers())
def test_a_number_the_evidence_holds_passes_however_it_is_written(
    stated: tuple[Decimal, str],
) -> None:
    """The control: the same reply passes when the tools returned the number, so the properties
    above hold because the number is missing, not because every number fails."""
    value, text = stated
    backed = gather_evidence(
        [json.dumps({"total": f"{value:f}", "alternative": f"{value / 1000:f}"})],
        customer_text="",
        store_hosts=STORE_HOSTS,
    )
    found = problems(reply(paragraph=f"We counted {text} for you."), backed)

    assert found == [], (text, found)


# --- Links ------------------------------------------------------------------------------------

# Hosts no evidence names, though some contain an allowed host's name.
_FOREIGN = [
    "evil.example",
    "demo-store.example.evil.example",
    "www.dhl.de.evil.example",
    "evil-demo-store.example",
    "EVIL.Example",
    "%65vil.example",
    "evil%2Eexample",
    "ｅｖｉｌ.example",
    "127.0.0.1",
    "[::1]",
]
_DECOYS = ["demo-store.example", "www.dhl.de", "%40demo-store.example"]
_SCHEMES_TEXT = ["https://", "http://", "HTTPS://", "hTTp://"]
_SCHEMES_HREF = [*_SCHEMES_TEXT, "https:/", "https:\\\\", "https:///", "//", "https:"]


@st.composite
def foreign_links(draw: st.DrawFn, schemes: list[str]) -> str:
    """A link whose browser host is foreign, dressed up to look like an allowed one."""
    host = draw(st.sampled_from(_FOREIGN))
    userinfo = draw(
        st.lists(st.sampled_from([*_DECOYS, "user", "user:pass"]), max_size=3).map("@".join)
    )
    port = draw(st.sampled_from(["", ":443", ":8080"]))
    # What follows the authority starts with a mark that ends it (a backslash does too).
    tail = draw(
        st.one_of(
            st.just(""),
            st.tuples(
                st.sampled_from(["/", "\\", "?", "#"]),
                st.sampled_from(
                    ["", "@demo-store.example", "\\@www.dhl.de/", "demo-store.example/x"]
                ),
            ).map("".join),
        )
    )
    authority = f"{userinfo}@{host}" if userinfo else host
    if draw(st.booleans()) and not userinfo and host[0].isalpha():
        return f"www.{host}{port}{tail}"
    return f"{draw(st.sampled_from(schemes))}{authority}{port}{tail}"


def _attribute(url: str, obfuscate: bool) -> str:
    value = url.replace("&", "&amp;").replace('"', "&quot;")
    if obfuscate:
        value = value.replace("\\", "&#92;").replace("@", "&#64;").replace(".", "&#x2e;")
    return value


_EVIDENCE = gather_evidence(
    [json.dumps({"tracking_url": TRACKING_URL})], customer_text="", store_hosts=STORE_HOSTS
)


@given(url=foreign_links(_SCHEMES_TEXT), place=st.sampled_from(["paragraph", "text"]))
@example(url="https://evil.example\\@demo-store.example/", place="text")
@example(url="https://evil.example\\@www.dhl.de/track", place="paragraph")
def test_a_link_in_the_text_to_a_host_the_evidence_lacks_never_passes(url: str, place: str) -> None:
    rendered = (
        reply(paragraph=f"Track it here: {url} today.")
        if place == "paragraph"
        else reply(text_extra=f"Track it here: {url}")
    )

    found = problems(rendered, _EVIDENCE)

    assert any(p.startswith("link:") for p in found), (url, found)


@given(url=foreign_links(_SCHEMES_HREF), obfuscate=st.booleans())
@example(url="https://evil.example\\@demo-store.example/", obfuscate=True)
@example(url="https:\\\\evil.example", obfuscate=False)
def test_a_link_in_the_html_to_a_host_the_evidence_lacks_never_passes(
    url: str, obfuscate: bool
) -> None:
    rendered = reply(html_extra=f'<p><a href="{_attribute(url, obfuscate)}">Track</a></p>')

    found = problems(rendered, _EVIDENCE)

    assert any(p.startswith("link:") for p in found), (url, found)


@given(
    host=st.sampled_from(ALLOWED),
    scheme=st.sampled_from(["https://", "HTTPS://", "http://"]),
    # Lower-case paths: an upper-case code with digits in a URL is a reference to back.
    path=st.from_regex(r"\A(/[a-z0-9_.~-]{0,12}){0,3}(\?[a-z]=[0-9]{1,5})?\Z"),
)
def test_a_link_to_an_allowed_host_passes(host: str, scheme: str, path: str) -> None:
    """The control: links to the store and to tool-result hosts pass in text and HTML."""
    url = f"{scheme}{host}{path}"
    rendered = reply(
        text_extra=f"Track: {url}", html_extra=f'<a href="{_attribute(url, False)}">x</a>'
    )

    assert problems(rendered, _EVIDENCE) == [], url
