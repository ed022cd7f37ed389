"""Which lines of a plain-text body are quoted history, in every catalog language and client.

A reply holds new text and history. History is either marked line by line (`>` in Gmail, Apple
Mail, Thunderbird, Android and mail.ru/Yandex plain text; an HTML `<blockquote>` becomes a `>`
line before this runs), or unmarked below an attribution, a separator or a header block (Outlook
desktop and web, Yahoo, Windows Mail). Marked history is dropped line by line, so text written
between or below quoted lines (an inline or bottom-posted reply) is kept; unmarked history runs to
the end of the body, so everything from its first line is dropped.

Patterns are per language: the catalog languages (en, de, fr, es, fa) and the ones customers'
mail clients commonly write in (ar, ru, it, nl, pt, da, sv, no, pl, cs, tr, ja, zh, ko).
"""

from __future__ import annotations

import re

_MAX_HEADER_CHARS = 300
"""No attribution, separator or header line is longer; longer lines are never matched."""
_ATTRIBUTION_SPAN = 3
"""An attribution may be wrapped over this many lines (long names and addresses)."""
_HEADER_WINDOW = 8
"""A header block's lines (wrapped `Cc:` lists included) are found within this many lines."""
_SEPARATOR_LOOKAHEAD = 3

# "<someone> wrote:" verbs. A line is an attribution when it ends in a colon and holds one of them.
_WROTE = "|".join(
    [
        r"wrote|writes",  # en: Gmail, Apple Mail, Thunderbird, Android, Yahoo
        r"schrieb|schreibt",  # de: "Am 23.11.2026 um 09:14 schrieb Name <addr>:"
        r"a\s+écrit|a\s+ecrit|écrivait",  # fr: "Le 23 nov. 2026 à 09:14, Name a écrit :"
        r"escribió|escribio",  # es: "El lun, 23 nov 2026 a las 9:14, Name escribió:"
        r"ha\s+scritto|scrisse",  # it
        r"schreef",  # nl
        r"escreveu",  # pt
        r"пишет|написал\(а\)|написала?|писал\(а\)",  # ru: mail.ru, Yandex, Android
        r"نوشت|نوشته\s+است|نوشته",  # fa
        r"كتب|كتبت|کتب",  # ar
        r"skrev|krev",  # da, sv, no
        r"napisał\(a\)|napisała?|nadesłał",  # pl
        r"napsal\(a\)|napsala?",  # cs
        r"yazdı",  # tr: "... tarihinde Name şunu yazdı:"
        r"写道|寫道|작성",  # zh, ko
    ]
)
_ATTRIBUTION = re.compile(rf"(?<!\w)(?:{_WROTE})(?!\w).{{0,120}}[:：]$", re.IGNORECASE)
# A line that opens a wrapped attribution: "On", "Am", "Le", "El", "Il", "Op", "Em", "Den", "Dnia",
# "Dne", "در تاریخ", "في", "В", or a date.
_OPENER = re.compile(r"^(?:on|am|le|el|il|op|em|den|dnia|dne|در|في|в|\d)(?!\w)|^\d", re.IGNORECASE)
# "26.06.2014, 14:41, "Alexander L" <abc@example.com>:" (Yandex), "Thu, 26 Jun 2014 14:00:51 +0400
# от Alexander L <abc@example.com>:" (mail.ru), "2022年1月1日(金) 9:00 Name <addr>:" (Japanese):
# an address and a digit before a closing colon. Only dropped when quoted lines follow.
_ADDRESS_ATTRIBUTION = re.compile(r"\d.*@[^\s@]+\.\w+.*[:：]$|@[^\s@]+\.\w+.*\d.*[:：]$")
_HAS_DATE_OR_ADDRESS = re.compile(r"\d|@")

# "-----Original Message-----", "-------- Ursprüngliche Nachricht --------", "----- Исходное
# сообщение -----": a phrase between dashes. Known phrases always start history.
_DASHED = re.compile(r"^[-=]{2,}\s*([^-=].{0,60}?)\s*[-=]{2,}$")
_KNOWN_SEPARATORS = re.compile(
    "|".join(
        [
            r"original message|forwarded message|reply message",
            r"ursprüngliche nachricht|weitergeleitete nachricht|originalnachricht",
            r"message d'origine|message original|message transféré",
            r"mensaje original|mensaje reenviado",
            r"messaggio originale|messaggio inoltrato",
            r"oorspronkelijk bericht|doorgestuurd bericht",
            r"mensagem original|mensagem encaminhada",
            r"исходное сообщение|пересылаемое сообщение|оригинальное сообщение",
            r"پیام اصلی|پیام اصلي|پیام ارسال شده|پیام بازارسال",
            r"الرسالة الأصلية|الرسالة الاصلية|رسالة محولة|الرسالة المعاد توجيهها",
            r"oprindelig meddelelse|videresendt meddelelse|ursprungligt meddelande",
            r"oryginalna wiadomość|wiadomość oryginalna|původní zpráva|orijinal mesaj",
        ]
    ),
    re.IGNORECASE,
)
# Outlook web and Windows Mail draw a rule (32 underscores in plain text, an <hr> in HTML).
_RULE = re.compile(r"^(?:_{10,}|-{10,}|—{5,}|={10,})$")

_FROM_NAMES = (
    "from|von|de|van|da|fra|från|od|от|از|من|kimden|mittente|remetente|发件人|寄件者|差出人"
    "|보낸 사람|보낸사람"
)
_OTHER_NAMES = (
    "sent|date|to|cc|bcc|subject|reply-to|gesendet|datum|an|betreff|envoyé|envoye|à|a|objet"
    "|enviado|enviada|fecha|para|asunto|inviato|data|oggetto|verzonden|aan|onderwerp|assunto"
    "|отправлено|дата|кому|тема|копия|ارسال شده|فرستاده شده|تاریخ|به|موضوع|رونوشت|أرسل|أرسلت"
    "|بتاريخ|التاريخ|إلى|الى|الموضوع|نسخة|sendt|til|emne|skickat|till|ämne|wysłano|do|temat"
    "|odesláno|komu|předmět|tarih|kime|konu|发送时间|收件人|主题|抄送|日付|宛先|件名|送信日時"
    "|받는 사람|제목|날짜"
)
_HEADER_NAME = re.compile(
    rf"^[*\s]*(?:(?P<from>{_FROM_NAMES})|(?P<other>{_OTHER_NAMES}))[*\s]*[:：]", re.IGNORECASE
)
_MIN_HEADER_LINES = 2


def is_quoted(line: str) -> bool:
    """Whether a (stripped) line is quoted history: it starts with `>`."""
    return line.startswith(">")


def new_text(lines: list[str]) -> list[list[str]]:
    """The lines the customer wrote this time, in runs split where history was dropped.

    `lines` are stripped. Quoted lines and the attribution or header lines that introduce them
    are dropped where they stand; unquoted history (below an Outlook header block, an "Original
    Message" separator, a rule followed by headers, or an attribution followed by unquoted text)
    is dropped from its first line to the end. Empty runs are left out.
    """
    end = _history_start(lines)
    runs: list[list[str]] = [[]]
    index = 0
    while index < end:
        line = lines[index]
        intro_end = None if is_quoted(line) else _introduction_end(lines, index, end)
        if is_quoted(line) or intro_end is not None:
            if any(runs[-1]):
                runs.append([])
            index = index + 1 if intro_end is None else intro_end
            continue
        runs[-1].append(line)
        index += 1
    return [run for run in runs if any(run)]


def _history_start(lines: list[str]) -> int:
    """The index where unquoted history begins, or `len(lines)` when there is none.

    History needs new text before it: a body that starts with a header block is a message
    forwarded without comment, and what it forwards is all the customer sent.
    """
    written = False
    for index, line in enumerate(lines):
        if not line or is_quoted(line):
            continue
        if len(line) <= _MAX_HEADER_CHARS:
            if _is_separator_before_history(lines, index) or _header_block_end(lines, index):
                if written:
                    return index
                continue
            start = _attribution_start(lines, index, strong=True)
            if start is not None and not _quote_follows(lines, index + 1):
                if any(lines[before] for before in range(start)):
                    return start
                continue
        written = written or not _HEADER_NAME.match(line)
    return len(lines)


def _introduction_end(lines: list[str], index: int, end: int) -> int | None:
    """Where a run of attribution or header lines starting at `index` and followed by a quote ends.

    Returns the index of the first quoted line after it, or None if `index` introduces nothing.
    """
    for last in range(index, min(index + _HEADER_WINDOW, end)):
        line = lines[last]
        if not line or is_quoted(line) or len(line) > _MAX_HEADER_CHARS:
            break
        introduces = _attribution_start(lines, last, strong=False) == index or (
            last == index and (_DASHED.match(line) or _RULE.match(line))
        )
        if introduces and _quote_follows(lines, last + 1):
            return _next_non_blank(lines, last + 1)
    return None


def _is_separator_before_history(lines: list[str], index: int) -> bool:
    line = lines[index]
    dashed = _DASHED.match(line)
    if dashed and _KNOWN_SEPARATORS.search(dashed.group(1)):
        return True
    if not (dashed or _RULE.match(line)):
        return False
    following = _next_non_blank(lines, index + 1)
    for ahead in range(following, min(following + _SEPARATOR_LOOKAHEAD, len(lines))):
        if _header_block_end(lines, ahead) or _attribution_start(lines, ahead, strong=True):
            return True
    return False


def _header_block_end(lines: list[str], index: int) -> int | None:
    """If an Outlook-style header block (From:/Sent:/To:/Subject:, any language) starts here."""
    first = _HEADER_NAME.match(lines[index])
    if first is None:
        return None
    names: set[str] = set()
    has_from = False
    last = index
    for ahead in range(index, min(index + _HEADER_WINDOW, len(lines))):
        line = lines[ahead]
        if is_quoted(line):
            break
        found = _HEADER_NAME.match(line) if len(line) <= _MAX_HEADER_CHARS else None
        if found is None:
            continue
        names.add(found.group(0).strip(" *:：").lower())
        has_from = has_from or found.group("from") is not None
        last = ahead
    if has_from and len(names) >= _MIN_HEADER_LINES:
        return last + 1
    return None


def _attribution_start(lines: list[str], index: int, *, strong: bool) -> int | None:
    """If the line at `index` ends an attribution, the index of the attribution's first line.

    A strong attribution names a wrote-verb and a date or an address: it starts history even
    when no quote marks follow. A weak one (verb only, or an address and a date only) is
    recognised only where quoted lines follow it.
    """
    line = lines[index]
    if not line or len(line) > _MAX_HEADER_CHARS or not line.endswith((":", "：")):
        return None
    earliest = index
    while (
        earliest > 0
        and index - earliest < _ATTRIBUTION_SPAN - 1
        and lines[earliest - 1]
        and not is_quoted(lines[earliest - 1])
        and len(lines[earliest - 1]) <= _MAX_HEADER_CHARS
    ):
        earliest -= 1
    # The longest window wins: a wrapped attribution starts on its opener line.
    for start in range(earliest, index + 1):
        if start < index and not _OPENER.match(lines[start]):
            continue
        window = " ".join(lines[start : index + 1])
        if _ATTRIBUTION.search(window):
            if strong and not _HAS_DATE_OR_ADDRESS.search(window):
                return None
            return start
    if not strong and _ADDRESS_ATTRIBUTION.search(line):
        return index
    return None


def _next_non_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index]:
        index += 1
    return index


def _quote_follows(lines: list[str], index: int) -> bool:
    following = _next_non_blank(lines, index)
    return following < len(lines) and is_quoted(lines[following])
