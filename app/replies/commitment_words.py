"""The words that make a commitment, per language: data for `app.replies.commitments`.

Each language lists, as regular-expression fragments matched case-insensitively as whole words:

- `actions`: for each kind of store action, the words that name it ("refund", "Stornierung") and
  the words that already state it as done ("refunded", "storniert"), which commit on their own;
- `markers`: words that turn a named action into a commitment: a future ("will", "خواهیم"), a
  completion ("approved", "genehmigt") or an assurance ("guarantee", "حتما");
- `days`: words that promise a day ("tomorrow", "nächste Woche", "بعد از ظهر" is not one);
- `units`, `counts` and `qualifiers`: a duration is a count, optionally a qualifier, then a unit
  ("3 business days", "drei Werktagen", "۳ روز کاری", "quelques jours");
- `currencies`: words for money next to a number ("5000 EUR", "۵۰۰۰ یورو").

A new language is one more `LanguageWords` entry in `WORDS`; a missing phrasing is one more
fragment. The detector checks the paragraph against every language at once, because the model
may answer in a language other than the one it declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ActionKind(StrEnum):
    """A store action only an approved proposal or a tool result may announce."""

    REFUND = "refund"
    CANCELLATION = "cancellation"
    REPLACEMENT = "replacement"
    DISCOUNT = "discount"
    ADDRESS_CHANGE = "address change"
    RETURN_APPROVAL = "return approval"


@dataclass(frozen=True, kw_only=True)
class ActionWords:
    """How one language names an action, and how it says the action is done."""

    names: tuple[str, ...]
    done: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LanguageWords:
    """Every fragment one language needs (see the module docstring)."""

    actions: Mapping[ActionKind, ActionWords]
    markers: tuple[str, ...]
    days: tuple[str, ...]
    units: tuple[str, ...]
    counts: tuple[str, ...]
    qualifiers: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    magnitudes: tuple[str, ...] = ()
    """Words between a number and its currency ("200 هزار تومان", "2 Millionen Euro")."""


# The same ZWNJ-or-space-or-nothing joint Persian writers use inside verbs ("می‌شود", "می شود").
_J = "[\u200c ]?"

# The tables are data laid out for reading, a few fragments a line: the formatter keeps off.
# fmt: off
ENGLISH = LanguageWords(
    actions={
        # "refund request" names what the customer asked for, not what we did.
        ActionKind.REFUND: ActionWords(
            names=(r"refunds?(?!\s+request)", "reimburse(?:ment)?", r"money\s+back"),
            done=("refunded", "reimbursed", r"credited\s+back"),
        ),
        ActionKind.CANCELLATION: ActionWords(
            names=("cancel", r"cancellation(?!\s+request)"), done=("cancell?ed",),
        ),
        ActionKind.REPLACEMENT: ActionWords(
            names=("replacements?", "replace", r"new\s+one", "resend", "reship"),
            done=("replaced", "resent", "reshipped"),
        ),
        ActionKind.DISCOUNT: ActionWords(
            names=("discounts?", "coupons?", "vouchers?", r"promo\s+code", r"store\s+credit"),
            done=("discounted",),
        ),
        ActionKind.ADDRESS_CHANGE: ActionWords(
            names=(
                r"(?:chang|updat|correct|amend|modif)\w*[^.!?\n]{0,40}\baddress(?:es)?",
                r"address(?:es)?\b[^.!?\n]{0,40}\b(?:chang|updat|correct|amend|modif)\w*",
            ),
            done=(
                r"(?:changed|updated|corrected|amended|modified)[^.!?\n]{0,40}\baddress(?:es)?",
                r"address(?:es)?\b[^.!?\n]{0,40}\b(?:changed|updated|corrected|amended|modified)",
            ),
        ),
        ActionKind.RETURN_APPROVAL: ActionWords(
            names=(r"returns?(?!\s+request)", r"send\s+(?:it|them)\s+back", "rma"),
        ),
    },
    markers=(
        "will", r"\w+['’]ll", "shall", r"going\s+to", r"(?:has|have|had)\s+been",
        r"(?:is|are)\s+being", "approved", "accepted", "processed", "issued", "initiated",
        "arranged", "confirmed", "granted", r"authori[sz]ed", "completed", "done", "applied",
        "sent", "booked", r"on\s+(?:its|the)\s+way", r"guarantee[sd]?", r"promise[sd]?",
        r"assured?", "certainly", "definitely",
    ),
    days=(
        "tomorrow", "tonight", r"next\s+(?:week|month)", r"end\s+of\s+(?:the\s+)?(?:week|month)",
        r"(?:by|on|before|until|next|this)\s+(?:monday|tuesday|wednesday|thursday|friday|"
        r"saturday|sunday)",
        r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:january|february|march|april|may|june|july|"
        r"august|september|october|november|december)",
        # "May" alone is a verb: a month name before a day only without it.
        r"(?:january|february|march|april|june|july|august|september|october|november|"
        r"december)\s+\d{1,2}\b",
    ),
    units=(r"days?", r"hours?", r"weeks?", r"months?"),
    counts=(
        "a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "fourteen", "thirty", r"a\s+few", r"a\s+couple\s+of", "several", r"the\s+next",
    ),
    qualifiers=("business", "working", "calendar"),
    currencies=(r"euros?", r"dollars?", r"pounds?", r"francs?"),
    magnitudes=("thousand", "million", "k"),
)

PERSIAN = LanguageWords(
    actions={
        ActionKind.REFUND: ActionWords(
            names=(
                r"(?<!درخواست\s)بازپرداخت", r"(?<!درخواست\s)استرداد",
                r"عودت\s+(?:وجه|پول|مبلغ)", r"برگشت\s+(?:وجه|پول)", "واریز",
                r"پول\s+(?:شما|تان)?\s*را\s+(?:پس|برمی)",
            ),
            done=("مسترد",),
        ),
        ActionKind.CANCELLATION: ActionWords(names=("لغو", "کنسل", "ابطال")),
        ActionKind.REPLACEMENT: ActionWords(
            names=("تعویض", "جایگزین", r"ارسال\s+مجدد", r"دوباره\s+(?:ارسال|می" + _J + "فرستیم)"),
        ),
        ActionKind.DISCOUNT: ActionWords(names=("تخفیف", "کوپن", r"اعتبار\s+خرید")),
        ActionKind.ADDRESS_CHANGE: ActionWords(
            names=(
                r"(?:آدرس|نشانی)[^.!?؟\n]{0,40}(?:تغییر|اصلاح|ویرایش|به" + _J + "روز)",
                r"(?:تغییر|اصلاح|ویرایش|به" + _J + r"روز)\w*[^.!?؟\n]{0,40}(?:آدرس|نشانی)",
            ),
        ),
        ActionKind.RETURN_APPROVAL: ActionWords(
            names=("مرجوع", "مرجوعی", "بازگرداندن", r"برچسب\s+(?:ارسال|مرجوعی)"),
        ),
    },
    markers=(
        "شد", "شده", "شدند", "کردیم", "کرده" + _J + "ایم", "خواهد", "خواهیم", "خواهید",
        "می" + _J + "شود", "می" + _J + "شوند", "می" + _J + "کنیم", "می" + _J + "دهیم",
        "می" + _J + "فرستیم", "دادیم", "داده" + _J + "ایم", "تایید", "تأیید", "انجام",
        "قطعا", "قطعاً", "حتما", "حتماً", "تضمین",
    ),
    days=(
        "فردا", "پس" + _J + "فردا", r"هفته\s+(?:آینده|بعد)", r"ماه\s+(?:آینده|بعد)",
        r"(?:یک|دو|سه|چهار|پنج)" + _J + "شنبه", "شنبه", "جمعه",
    ),
    units=("روز", "روزه", "ساعت", "هفته", "ماه"),
    counts=("یک", "دو", "سه", "چهار", "پنج", "شش", "هفت", "هشت", "نه", "ده", "چند"),
    qualifiers=("کاری",),
    currencies=("یورو", "دلار", "تومان", "ریال", "پوند"),
    magnitudes=("هزار", "میلیون", "میلیارد"),
)

SPANISH = LanguageWords(
    actions={
        # Stems, so every tense counts ("reembolsaremos"); a request is not an action.
        ActionKind.REFUND: ActionWords(
            names=(r"(?<!solicitud\sde\s)reembols\w*", r"devolver\w*\s+el\s+dinero"),
            done=(r"reembolsad[oa]s?", "reembolsamos"),
        ),
        ActionKind.CANCELLATION: ActionWords(
            names=(r"(?<!solicitud\sde\s)cancel\w*", r"anul\w*"),
            done=(r"cancelad[oa]s?", r"anulad[oa]s?", "cancelamos"),
        ),
        ActionKind.REPLACEMENT: ActionWords(
            names=(r"reemplaz\w*", r"sustitu\w*", r"reenv\w*"),
            done=(r"reemplazad[oa]s?", r"sustituid[oa]s?", r"reenviad[oa]s?"),
        ),
        ActionKind.DISCOUNT: ActionWords(names=("descuentos?", "cupón", r"código\s+promocional")),
        ActionKind.ADDRESS_CHANGE: ActionWords(
            names=(
                r"dirección[^.!?\n]{0,40}(?:cambi|actualiz|modific|correg|corrig)\w*",
                r"(?:cambi|actualiz|modific|correg|corrig)\w*[^.!?\n]{0,40}dirección",
            ),
        ),
        ActionKind.RETURN_APPROVAL: ActionWords(
            names=("devolución", "devolver", r"etiqueta\s+de\s+devolución"),
        ),
    },
    markers=(
        r"\w+(?:aré|arás|ará|aremos|arán|eré|erás|erá|eremos|erán|iré|irás|irá|iremos|irán)",
        r"(?:podr|tendr|habr|saldr|vendr|pondr|dir|har)(?:é|ás|á|emos|án)",
        r"(?:va|vamos|van)\s+a", "hemos", r"(?:ha|han)\s+sido", "fue", "fueron",
        r"está\s+siendo", r"aprobad[oa]s?", "aprobamos", r"procesad[oa]s?", r"emitid[oa]s?",
        r"confirmad[oa]s?", r"tramitad[oa]s?", r"realizad[oa]s?", r"enviad[oa]s?",
        r"garantiza\w*", "aseguro", "aseguramos", r"sin\s+duda", r"en\s+camino",
    ),
    days=(
        r"(?<!la\s)(?<!esta\s)mañana", r"pasado\s+mañana", r"(?:la\s+)?próxima\s+semana",
        r"semana\s+que\s+viene",
        r"(?:el|este|próximo|hasta\s+el|antes\s+del?)\s+(?:lunes|martes|miércoles|jueves|"
        r"viernes|sábado|domingo)",
        r"\d{1,2}\s+de\s+(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
        r"octubre|noviembre|diciembre)",
    ),
    units=("días?", "horas?", "semanas?", "mes(?:es)?"),
    counts=(
        "un", "una", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
        "diez", "quince", "unos", "unas", r"unos\s+pocos", "algunos", "pocos",
    ),
    qualifiers=("hábiles", "laborables", "naturales"),
    currencies=(r"euros?", r"dólar(?:es)?", r"libras?"),
    magnitudes=("mil", "millones", "millón", "de"),
)

GERMAN = LanguageWords(
    actions={
        ActionKind.REFUND: ActionWords(
            names=(r"\w*erstattung", r"(?:zurück)?erstatten", r"geld\s+zurück"),
            done=(r"(?:zurück)?erstattet", "zurücküberwiesen", "überwiesen"),
        ),
        ActionKind.CANCELLATION: ActionWords(
            names=("stornierung", "stornieren", "storno", "annullierung"),
            done=("storniert", "annulliert"),
        ),
        ActionKind.REPLACEMENT: ActionWords(
            names=(r"ersatz\w*", "ersetzen", "austausch", "austauschen", "umtausch"),
            done=("ersetzt", "ausgetauscht", "umgetauscht", r"erneut\s+(?:versendet|verschickt)"),
        ),
        ActionKind.DISCOUNT: ActionWords(
            names=(r"rabatt\w*", r"gutschein\w*", r"\w*nachlass", "gutschrift"),
        ),
        ActionKind.ADDRESS_CHANGE: ActionWords(
            names=(
                r"\w*(?:adresse|anschrift)\w*[^.!?\n]{0,40}(?:ge)?(?:änder|aktualisier|korrigier)\w*",
                r"(?:änder|aktualisier|korrigier)\w*[^.!?\n]{0,40}\w*(?:adresse|anschrift)",
            ),
            done=(
                r"\w*(?:adresse|anschrift)\w*[^.!?\n]{0,40}(?:geändert|aktualisiert|korrigiert)",
                r"(?:geändert|aktualisiert|korrigiert)[^.!?\n]{0,40}\w*(?:adresse|anschrift)",
            ),
        ),
        ActionKind.RETURN_APPROVAL: ActionWords(
            names=(r"rücksend\w*", r"retoure\w*", "zurücksenden", "rückgabe"),
        ),
    },
    # German often says the future in the present ("Sie erhalten", "wir senden").
    markers=(
        "wird", "werden", "werde", "wurde", "wurden", "genehmigt", "bewilligt", "bearbeitet",
        "veranlasst", "ausgelöst", "bestätigt", "angewiesen", "unterwegs", r"garantier\w*",
        "versprechen", r"(?:erhalten|bekommen)\s+sie", r"sie\s+(?:erhalten|bekommen)",
        r"wir\s+(?:senden|schicken|erstatten|gewähren|geben|ändern|tauschen)",
    ),
    days=(
        r"(?<!guten\s)morgen", "übermorgen", r"nächste\w*\s+(?:woche|monat)",
        r"(?:am|bis|ab|nächsten|diesen)\s+(?:montag|dienstag|mittwoch|donnerstag|freitag|"
        r"samstag|sonntag)",
        r"\d{1,2}\.\s*(?:januar|februar|märz|april|mai|juni|juli|august|september|oktober|"
        r"november|dezember)",
    ),
    units=(r"tag(?:e|en)?", r"werktag(?:e|en)?", r"stunden?", r"wochen?", r"monat(?:e|en)?"),
    counts=(
        "ein", "eine", "einem", "einer", "einen", "zwei", "drei", "vier", "fünf", "sechs",
        "sieben", "acht", "neun", "zehn", "vierzehn", "wenigen", r"ein\s+paar", "einigen",
    ),
    currencies=("euro", "dollar", "pfund", "franken"),
    magnitudes=("tausend", "millionen", "million", "mio"),
)

FRENCH = LanguageWords(
    actions={
        ActionKind.REFUND: ActionWords(
            names=(r"(?<!demande\sde\s)rembours\w*",), done=(r"remboursée?s?",),
        ),
        ActionKind.CANCELLATION: ActionWords(
            names=(r"(?<!demande\sd')annul\w*",), done=(r"annulée?s?",),
        ),
        ActionKind.REPLACEMENT: ActionWords(
            names=(
                r"remplac\w*", "renvoi",
                r"nouv(?:el|eau|elle)\s+(?:article|exemplaire|colis|produit)",
            ),
            done=(r"remplacée?s?", r"renvoyée?s?"),
        ),
        ActionKind.DISCOUNT: ActionWords(
            names=(
                "remise", "réduction", r"bon\s+d'achat", r"code\s+promo", "coupon", r"un\s+avoir",
            ),
        ),
        ActionKind.ADDRESS_CHANGE: ActionWords(
            names=(
                r"adresse[^.!?\n]{0,40}(?:modifi|chang|corrig|mis\w*\s+à\s+jour)\w*",
                r"(?:modifi|chang|corrig|mett\w*\s+à\s+jour)\w*[^.!?\n]{0,40}adresse",
            ),
        ),
        ActionKind.RETURN_APPROVAL: ActionWords(
            names=("retour", "retours", r"étiquette\s+de\s+retour", "renvoyer"),
        ),
    },
    markers=(
        r"\w+(?:erai|eras|era|erons|erez|eront|irai|iras|ira|irons|irez|iront)",
        r"(?:ser|aur|fer|pourr|recevr|enverr|verr|devr)(?:ai|as|a|ons|ez|ont)",
        r"va\s+être", "allons", "avons", r"a\s+été", r"ont\s+été", r"est\s+en\s+cours",
        r"approuvée?s?", r"acceptée?s?", r"validée?s?", r"traitée?s?", r"effectuée?s?",
        r"confirmée?s?", r"émise?s?", r"envoyée?s?", r"garanti\w*", "certainement",
        r"en\s+route",
    ),
    days=(
        "demain", "après-demain", r"semaine\s+prochaine", r"mois\s+prochain",
        r"(?:d'ici|avant|dès|jusqu'à|ce|le|prochain)\s+(?:lundi|mardi|mercredi|jeudi|vendredi|"
        r"samedi|dimanche)",
        r"\d{1,2}(?:er)?\s+(?:janvier|février|mars|avril|mai|juin|juillet|août|septembre|"
        r"octobre|novembre|décembre)",
    ),
    units=(r"jours?", r"heures?", r"semaines?", "mois"),
    counts=(
        "un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
        "quinze", "quelques", "plusieurs",
    ),
    qualifiers=("ouvrables", "ouvrés"),
    currencies=(r"euros?", r"dollars?", r"livres?", r"francs?"),
    magnitudes=("mille", r"millions?", "d'"),
)
# fmt: on

WORDS: Mapping[str, LanguageWords] = {
    "en": ENGLISH,
    "fa": PERSIAN,
    "es": SPANISH,
    "de": GERMAN,
    "fr": FRENCH,
}
"""Every language's words, by language code (the shipped reply languages)."""

CURRENCY_SIGNS = (r"€", r"\$", r"£", "﷼", "EUR", "USD", "GBP", "CHF", "CAD", "AUD", "IRR", "IRT")
"""Currency symbols and codes, the same in every language."""
NUMERIC_DATE = r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}"
"""A day written in digits ("2026-11-21", "21.11.2026", "۱۴۰۵/۰۸/۳۰")."""
