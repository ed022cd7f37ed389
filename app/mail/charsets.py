"""Turning bytes in a declared (or missing, or wrong) charset into clean, storable text."""

from __future__ import annotations

import codecs
import re
import unicodedata

from charset_normalizer import from_bytes

# Names seen in mail that Python does not know, mapped to what senders mean by them.
_ALIASES = {
    "unknown-8bit": "",
    "x-unknown": "",
    "x-user-defined": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}

# NUL and the C0/C1 controls other than tab, line feed and carriage return. PostgreSQL text cannot
# hold NUL at all, and the others only ever hide things from a reader.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def lookup_codec(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if it is unusable."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _ALIASES.get(label, label)
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then strict UTF-8, then a detected charset.

    Never raises: the last resort is UTF-8 with replacement characters.
    """
    codec = lookup_codec(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return data.decode(best.encoding, "replace")
    return data.decode("utf-8", "replace")


def storable_text(text: str) -> str:
    """Return text that any SQL text column accepts and that hides nothing in control characters.

    NUL and other control characters are dropped, lone surrogates (left by `surrogateescape`)
    become U+FFFD, and the result is NFC-normalised.
    """
    text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub("", text)
    return unicodedata.normalize("NFC", text)


def safe_filename(name: str) -> str:
    """Reduce an attachment's name to a displayable base name: no directories, no dot-files.

    The result is for display only; nothing ever builds a filesystem path from it.
    """
    base = re.split(r"[\\/]", storable_text(name))[-1].strip().lstrip(".").strip()
    return base[:255]
