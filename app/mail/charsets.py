"""Turning bytes in a declared (or missing, or wrong) charset into clean, storable text."""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache

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
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Python codecs that are not charsets: a sender naming one gets the fallback chain instead.
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "charmap"}
)
# Mail text that declares no charset is always an ASCII superset; a guess that decodes these
# bytes differently (UTF-16 without a BOM, EBCDIC) would turn the ASCII text itself to garbage.
_ASCII_SAMPLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_SHORT_TEXT = 256
_CONFIDENT = 0.2
"""charset-normalizer's coherence (it recognised a language) above which its guess wins."""


def lookup_codec(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if it is unusable."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _ALIASES.get(label, label)
    if not label:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        # ValueError: a NUL in the label; UnicodeEncodeError (a ValueError): lone surrogates.
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        # base64, rot13, zlib...: bytes-to-bytes codecs that `bytes.decode` refuses.
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then strict UTF-8, then a detected charset.

    A detected charset is trusted when the detector recognised a language; otherwise short text
    is read as windows-1252, and longer text takes the detector's best guess. Only
    ASCII-compatible guesses are used (undeclared mail text always is). Never raises: the last
    resort is UTF-8 with replacement characters.
    """
    codec = lookup_codec(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guesses = [g for g in from_bytes(data) if g.encoding and _is_ascii_superset(g.encoding)]
    if guesses and getattr(guesses[0], "coherence", 0.0) >= _CONFIDENT:
        return data.decode(guesses[0].encoding, "replace")
    if len(data) < _SHORT_TEXT:
        # Without a recognised language, a detector guesses wildly on a few bytes ("Grüße" in
        # Latin-1 comes back as Urdu); undeclared short mail text is mostly Western European.
        try:
            return data.decode("windows-1252")
        except UnicodeDecodeError:
            pass
    if guesses:
        return data.decode(guesses[0].encoding, "replace")
    return data.decode("utf-8", "replace")


@lru_cache(maxsize=128)
def _is_ascii_superset(codec: str) -> bool:
    try:
        return _ASCII_SAMPLE.decode(codec) == _ASCII_SAMPLE.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def storable_text(text: str) -> str:
    """Return text that any SQL text column accepts and that hides nothing in control characters.

    NUL and other control characters are dropped, lone surrogates (left by `surrogateescape`)
    become U+FFFD, and the result is NFC-normalised.
    """
    return unicodedata.normalize("NFC", storable_as_written(text))


def storable_as_written(text: str) -> str:
    """Like `storable_text`, but not normalised: every character that can be stored is kept.

    For text staff must see exactly as the sender wrote it, such as the From header: NFC turns
    a Kelvin sign (U+212A) into the letter K, which would hide what the sender really wrote.
    Text that needs no cleaning is returned as is (one scan, no copy), which is nearly always.
    """
    if _UNSTORABLE.search(text) is None:
        return text
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def safe_filename(name: str) -> str:
    """Reduce an attachment's name to a displayable base name: no directories, no dot-files.

    The result is for display only; nothing ever builds a filesystem path from it. Line breaks
    and tabs become spaces, so the name stays on one line.
    """
    one_line = _LINE_BREAKS.sub(" ", storable_text(name))
    # Leading dots and spaces in any mix (". .bashrc" too): never a dot-file.
    base = re.split(r"[\\/]", one_line)[-1].lstrip(". ").strip()
    return base[:255].rstrip()
