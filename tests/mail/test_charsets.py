"""Charsets: bytes in a declared, missing or wrong charset become clean, storable text."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from app.mail import charsets
from app.mail.charsets import decode_bytes, lookup_codec, safe_filename, storable_text

SPANISH = (
    "Hola, quiero hacer una devoluci\u00f3n del pedido porque lleg\u00f3 roto. Gracias, Jos\u00e9"
)
RUSSIAN = (
    "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435! "
    "\u0413\u0434\u0435 \u043c\u043e\u0439 \u0437\u0430\u043a\u0430\u0437 "
    "\u043d\u043e\u043c\u0435\u0440 1001? "
    "\u042f \u043e\u043f\u043b\u0430\u0442\u0438\u043b \u0435\u0433\u043e \u0434\u0432\u0435 "
    "\u043d\u0435\u0434\u0435\u043b\u0438 \u043d\u0430\u0437\u0430\u0434."
)


@dataclass(frozen=True)
class FakeGuess:
    """Stands in for a charset-normalizer match: only `encoding` and `coherence` are read."""

    encoding: str | None
    coherence: float = 0.0


class FakeMatches:
    """Stands in for charset-normalizer's result: best first, iterable, with `best()`."""

    def __init__(self, encodings: tuple[str | None, ...]) -> None:
        self.guesses = [FakeGuess(encoding) for encoding in encodings]

    def __iter__(self) -> Iterator[FakeGuess]:
        return iter(self.guesses)

    @classmethod
    def of(cls, *guesses: FakeGuess) -> FakeMatches:
        matches = cls(())
        matches.guesses = list(guesses)
        return matches

    def best(self) -> FakeGuess | None:
        return self.guesses[0] if self.guesses else None


def fake_detector(*encodings: str | None) -> Callable[[bytes], FakeMatches]:
    def detect(data: bytes) -> FakeMatches:
        return FakeMatches(encodings)

    return detect


# --- the declared charset -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "charset"),
    [
        ("Como usted pidi\u00f3", "cp850"),
        ("Devoluci\u00f3n", "cp850"),
        ("\u201cquotes\u201d \u2013 \u20ac 10", "windows-1252"),
        ("Gr\u00fc\u00dfe", "iso-8859-1"),
        ("Gr\u00fc\u00dfe", "ISO-8859-15"),
        (RUSSIAN, "koi8-r"),
        (RUSSIAN, "windows-1251"),
        ("\u0633\u0644\u0627\u0645", "windows-1256"),
        ("\u3053\u3093\u306b\u3061\u306f", "shift_jis"),
        ("\u3053\u3093\u306b\u3061\u306f", "iso-2022-jp"),
        ("\u4f60\u597d", "gb2312"),
        ("\uc548\ub155\ud558\uc138\uc694", "euc-kr"),
        ("Gr\u00fc\u00dfe", "utf-16"),
        ("Gr\u00fc\u00dfe \U0001f600", "UTF-8"),
    ],
)
def test_the_declared_charset_is_used(text: str, charset: str) -> None:
    assert decode_bytes(text.encode(charset), charset) == text


def test_a_declared_legacy_charset_is_not_read_as_latin1() -> None:
    # The SendGrid trap: cp850 bytes read as latin-1 give "pidi\xa2" (mojibake, no error).
    decoded = decode_bytes("Como usted pidi\u00f3".encode("cp850"), "cp850")

    assert decoded == "Como usted pidi\u00f3"
    assert "\u00a2" not in decoded


# --- the fallback chain ---------------------------------------------------------------------


def test_utf8_is_tried_when_the_declared_charset_fails() -> None:
    # Declared us-ascii (the MIME default), but the sender wrote UTF-8.
    assert decode_bytes("Gr\u00fc\u00dfe".encode(), "us-ascii") == "Gr\u00fc\u00dfe"


def test_utf8_is_tried_when_the_declared_charset_is_unknown() -> None:
    assert decode_bytes("Gr\u00fc\u00dfe".encode(), "x-no-such-charset") == "Gr\u00fc\u00dfe"


def test_utf8_is_used_when_nothing_is_declared() -> None:
    assert decode_bytes("Gr\u00fc\u00dfe \u20ac".encode(), None) == "Gr\u00fc\u00dfe \u20ac"
    assert decode_bytes("Gr\u00fc\u00dfe".encode(), "") == "Gr\u00fc\u00dfe"


def test_a_detected_charset_is_used_when_utf8_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charsets, "from_bytes", fake_detector("cp1252"))

    assert decode_bytes(b"\x93quoted\x94 \x80", None) == "\u201cquoted\u201d \u20ac"


def test_detection_really_runs_for_undeclared_legacy_text() -> None:
    assert decode_bytes(SPANISH.encode("cp1252"), None) == SPANISH
    assert decode_bytes(RUSSIAN.encode("koi8-r"), None) == RUSSIAN
    assert decode_bytes(RUSSIAN.encode("cp1251"), None) == RUSSIAN


LONG = b" padding" * 40  # Longer than the short-text rule, so the detector decides.


def test_replacement_characters_are_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charsets, "from_bytes", fake_detector())

    assert decode_bytes(b"caf\xe9 ok" + LONG, None) == "caf\ufffd ok" + LONG.decode()


def test_short_undeclared_text_without_a_recognised_language_is_windows_1252(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real detector reads 5 bytes of Latin-1 German as Urdu (cp1006).
    assert decode_bytes("Gr\u00fc\u00dfe".encode("latin-1"), None) == "Gr\u00fc\u00dfe"
    monkeypatch.setattr(charsets, "from_bytes", fake_detector("koi8_r"))
    assert decode_bytes(b"caf\xe9 ok", None) == "caf\u00e9 ok"


def test_a_confident_guess_wins_even_for_short_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        charsets, "from_bytes", lambda _data: FakeMatches.of(FakeGuess("koi8_r", coherence=0.5))
    )
    assert decode_bytes("\u041f\u0440\u0438\u0432\u0435\u0442".encode("koi8-r"), None) == (
        "\u041f\u0440\u0438\u0432\u0435\u0442"
    )


def test_a_detected_charset_that_is_not_an_ascii_superset_is_never_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Mail text is always an ASCII superset; UTF-16 or EBCDIC would garble the ASCII itself.
    monkeypatch.setattr(charsets, "from_bytes", fake_detector("utf_16_be", "cp037", None))

    assert decode_bytes(b"Jos\xe9 <jose@example.com>" + LONG, None) == (
        "Jos\ufffd <jose@example.com>" + LONG.decode()
    )


def test_the_first_ascii_compatible_guess_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charsets, "from_bytes", fake_detector("utf_16_be", "cp037", "cp1252"))

    assert decode_bytes(b"Jos\xe9" + LONG, None) == "Jos\u00e9" + LONG.decode()


@pytest.mark.parametrize(
    ("data", "prefix", "suffix"),
    [
        (b"Jos\xe9", "Jos", ""),
        (b"Gr\xfc\xdfe", "Gr", "e"),
        (b"Hello \x80\x81\x82 world", "Hello ", " world"),
        (b"Jos\xe9 <jose@example.com>", "Jos", " <jose@example.com>"),
    ],
)
def test_short_undeclared_legacy_text_keeps_its_ascii(
    data: bytes, prefix: str, suffix: str
) -> None:
    # Detection guesses wildly on short input; a UTF-16 guess once turned "Jos\xe9" into CJK.
    decoded = decode_bytes(data, None)

    assert decoded.startswith(prefix)
    assert decoded.endswith(suffix)


@pytest.mark.parametrize(
    "charset",
    [
        "base64",
        "rot13",
        "hex",
        "zlib",
        "bz2",
        "quopri",
        "uu",
        "undefined",
        "idna",
        "punycode",
        "unicode_escape",
        "raw-unicode-escape",
        "utf\x00-8",
        "utf-8\x00",
        "\udcff",
        "x" * 10_000,
        "\u00fctf-8",
        "utf-8; format=flowed",
    ],
)
def test_decode_bytes_never_raises_whatever_the_charset_name(charset: str) -> None:
    for data in (b"plain ascii", "Gr\u00fc\u00dfe".encode(), b"caf\xe9 \xff\xfe", b""):
        decoded = decode_bytes(data, charset)
        assert isinstance(decoded, str)
    assert decode_bytes("Gr\u00fc\u00dfe".encode(), charset) == "Gr\u00fc\u00dfe"


def test_python_only_codecs_are_not_honoured_as_charsets() -> None:
    # "unicode_escape" would turn the text \x41 into "A"; a sender must not steer that.
    assert decode_bytes(b"\\x41\\u00e9", "unicode_escape") == "\\x41\\u00e9"


def test_decode_bytes_never_raises_on_random_bytes() -> None:
    rng = random.Random(5)
    labels = [None, "utf-8", "cp850", "unknown-8bit", "utf-16", "iso-2022-jp", "base64", "bogus"]
    for _ in range(200):
        data = rng.randbytes(rng.randint(0, 120))
        decoded = decode_bytes(data, rng.choice(labels))
        assert isinstance(decoded, str)


# --- charset labels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        ('"UTF-8"', "utf-8"),
        ('  "iso-8859-1" ', "iso8859-1"),
        ("latin1", "iso8859-1"),
        ("ks_c_5601-1987", "cp949"),
        ("KS_C_5601-1987", "cp949"),
        ("x-user-defined", "cp1252"),
        ("x-mac-roman", "mac-roman"),
        ("iso-8859-8-i", "iso8859-8"),
        ("windows-874", "cp874"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("cp850", "cp850"),
        ("windows-1252", "cp1252"),
    ],
)
def test_lookup_codec_maps_mail_labels(label: str, codec: str) -> None:
    assert lookup_codec(label) == codec


@pytest.mark.parametrize(
    "label",
    [None, "", "   ", '""', "unknown-8bit", "UNKNOWN-8BIT", "x-unknown", "x-bogus", "base64"],
)
def test_lookup_codec_returns_none_for_unusable_labels(label: str | None) -> None:
    assert lookup_codec(label) is None


def test_unknown_8bit_falls_back_to_utf8_then_detection() -> None:
    assert decode_bytes("Gr\u00fc\u00dfe".encode(), "unknown-8bit") == "Gr\u00fc\u00dfe"
    assert decode_bytes(SPANISH.encode("cp1252"), "unknown-8bit") == SPANISH


def test_ks_c_5601_1987_is_read_as_korean() -> None:
    text = "\uc548\ub155\ud558\uc138\uc694, \uc8fc\ubb38 \ubc88\ud638"
    assert decode_bytes(text.encode("cp949"), "ks_c_5601-1987") == text


def test_x_user_defined_is_read_as_windows_1252() -> None:
    assert decode_bytes(b"\x80 5 \x93ok\x94", "x-user-defined") == "\u20ac 5 \u201cok\u201d"


def test_gb2312_label_accepts_gbk_and_gb18030_characters() -> None:
    text = "\u4f60\u597d \u9555"  # the last character is not in GB2312
    assert decode_bytes(text.encode("gb18030"), "gb2312") == text


# --- storable_text --------------------------------------------------------------------------


def test_storable_text_removes_nul_and_control_characters() -> None:
    controls = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
    c1 = "".join(chr(c) for c in range(0x7F, 0xA0))

    assert storable_text(f"a{controls}b{c1}c") == "abc"
    assert storable_text("Hello\x00 World") == "Hello World"


def test_storable_text_keeps_tab_newline_and_carriage_return() -> None:
    assert storable_text("a\tb\nc\r\nd") == "a\tb\nc\r\nd"


def test_storable_text_replaces_lone_surrogates() -> None:
    # What `surrogateescape` leaves behind for undecodable bytes.
    text = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert text == "caf\udce9"

    assert storable_text(text) == "caf\ufffd"
    assert storable_text("\ud800x\udfff") == "\ufffdx\ufffd"
    storable_text(text).encode("utf-8")  # strict: would raise on a surrogate


def test_storable_text_nfc_normalises() -> None:
    decomposed = "Jose\u0301 Mu\u0308ller A\u030a"

    result = storable_text(decomposed)

    assert result == "Jos\u00e9 M\u00fcller \u00c5"
    assert unicodedata.is_normalized("NFC", result)


def test_storable_text_keeps_ordinary_text_of_every_script() -> None:
    text = "Gr\u00fc\u00dfe \u0633\u0644\u0627\u0645 \u4f60\u597d \U0001f600 \u20ac\n\tend"
    assert storable_text(text) == text


def test_storable_text_is_idempotent_and_always_storable() -> None:
    rng = random.Random(11)
    pool = "aZ \t\n\r\x00\x01\x1b\x7f\x85\x9f\ud800\udcff\u0301e\u00e9\u200b\ufeff\U0001f600"
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        once = storable_text(text)
        assert storable_text(once) == once
        assert "\x00" not in once
        once.encode("utf-8")  # no surrogates left
        assert all(ch in "\t\n\r" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) for ch in once)


# --- safe_filename --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("/etc/passwd", "passwd"),
        ("..\\x", "x"),
        ("../static/index.html", "index.html"),
        ("..\\..\\windows\\system32\\evil.exe", "evil.exe"),
        ("\\\\share\\mail\\forwarded.msg", "forwarded.msg"),
        ("C:\\Users\\me\\r\u00e9sum\u00e9.pdf", "r\u00e9sum\u00e9.pdf"),
        ("path\\", ""),
        ("path/", ""),
        ("path\\.", ""),
        ("path/..", ""),
        ("..", ""),
        (".", ""),
        ("", ""),
        ("   ", ""),
        (".bashrc", "bashrc"),
        (". .bashrc", "bashrc"),
        (".\t..ssh", "ssh"),
        ("...hidden.txt", "hidden.txt"),
        (" . leading dot and space.txt", "leading dot and space.txt"),
        ("  spaced name.pdf  ", "spaced name.pdf"),
        ("a\x00b\x07c.txt", "abc.txt"),
        ("line\r\nbreak\t.txt", "line break .txt"),
        ("re\u0301sume\u0301.pdf", "r\u00e9sum\u00e9.pdf"),
        ("report.pdf\udcff", "report.pdf\ufffd"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_caps_the_length() -> None:
    assert safe_filename("a" * 1000 + ".pdf") == "a" * 255
    assert safe_filename("a" * 254 + " " + "b" * 10) == "a" * 254


def test_safe_filename_never_yields_a_path_a_dot_file_or_a_control_character() -> None:
    rng = random.Random(3)
    pool = ["..", ".", "/", "\\", "a", "b.txt", " ", "\x00", "\r\n", "\t", "\u00e9", "C:", "~"]
    for _ in range(500):
        name = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        safe = safe_filename(name)
        assert "/" not in safe
        assert "\\" not in safe
        assert not safe.startswith(".")
        assert safe == safe.strip()
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in safe)
        assert len(safe) <= 255
