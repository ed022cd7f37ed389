"""Hostile emails through the worker's parse: time and memory, each within its ceilings.

    python -m bench.ceilings            # every case, one fresh process each (about 30 s)

Each case is an email a sender controls entirely, posted in raw mode as SendGrid would, and
parsed by what the worker runs (`parse_stored_delivery` with the default settings' ceilings):
either it parses, or it stops at a ceiling and would be quarantined. Every case runs in a fresh
process; the peak is measured from just before the parse (Linux resets the high-water mark on
request), and what the parse adds is that peak less the process's RSS before it (the imports and
the stored request, which the worker holds anyway). Target: no email takes a worker more than
5 s, or adds more than 200 MB to its peak.
"""

from __future__ import annotations

import base64
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from app.config import Settings
from app.demo.sendgrid_posts import SendGridPost, Transport, encode_form
from app.intake.classify import mime_ceilings
from app.mail.ceilings import OverCeiling
from app.mail.formdata import parse_form_data
from app.mail.providers.sendgrid import parse_stored_delivery, read_delivery

MiB = 1024 * 1024
MAX_SECONDS = 5.0
MAX_ADDED_MB = 200.0
_HEAD = b"From: Sara <sara@example.com>\r\nTo: support@shop.test\r\nSubject: hostile\r\n"


def _multipart(*parts: bytes) -> bytes:
    inner = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts)
    return _HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + inner + b"--B--\r\n"


def _parts_200k() -> bytes:
    return _multipart(*[b"Content-Type: text/plain\r\n\r\nx"] * 200_000)


def _nested_3000() -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(3000)
    )
    return _HEAD + opening + b"Content-Type: text/plain\r\n\r\nx"


def _lines_2m() -> bytes:
    return _HEAD + b"\r\n" + b"x\r\n" * 2_000_000


def _header_lines() -> bytes:
    return _HEAD + b"X-Filler: x\r\n" * 100_000 + b"\r\nbody"


def _header_comments() -> bytes:
    # Just under the ceilings: four headers of nested-comment-free comments, the stdlib
    # parser's slowest input per byte.
    header = b"To: " + b"(c) " * 7900 + b"a@example.com\r\n"
    return _HEAD + header * 4 + b"\r\nbody"


def _base64_30mib() -> bytes:
    data = base64.encodebytes(bytes(range(256)) * (30 * MiB // 256))
    return _multipart(
        b"Content-Type: text/plain\r\n\r\nPhotos attached.",
        b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="photos.zip"\r\n\r\n' + data,
    )


def _eight_bit_38mib() -> bytes:
    line = b"\xe9" * 75 + b"\r\n"
    return _HEAD + b"Content-Type: text/plain; charset=latin-1\r\n\r\n" + line * (38 * MiB // 77)


CASES: dict[str, Callable[[], bytes]] = {
    "200,000 parts": _parts_200k,
    "nested 3,000 deep": _nested_3000,
    "2,000,000 lines": _lines_2m,
    "100,000 header lines": _header_lines,
    "124 KiB of header comments": _header_comments,
    "30 MiB base64 attachment": _base64_30mib,
    "38 MiB of 8-bit text": _eight_bit_38mib,
}


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Make the high-water mark (VmHWM) start again from the current RSS."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure(name: str) -> dict[str, Any]:
    """Parse one case in this process, as the worker would; its time and this process's peak."""
    eml = CASES[name]()
    post: SendGridPost = encode_form([*Transport().fields(), ("email", eml)])
    del eml
    settings = Settings(_env_file=None, INBOUND_ALLOW_UNAUTHENTICATED=True)
    delivery = read_delivery(
        parse_form_data(post.body, post.content_type, max_parts=settings.INBOUND_MAX_PARTS)
    )
    _reset_peak()
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    try:
        email = parse_stored_delivery(
            post.body,
            post.content_type,
            delivery,
            max_parts=settings.INBOUND_MAX_PARTS,
            ceilings=mime_ceilings(settings),
        )
        outcome = f"parsed ({len(email.attachments)} attachments)"
    except OverCeiling as exc:
        outcome = f"over a ceiling: {exc}"
    seconds = time.perf_counter() - started
    added = _status_mb("VmHWM") - before
    return {
        "case": name,
        "post_mb": round(len(post.body) / MiB, 1),
        "outcome": outcome,
        "seconds": round(seconds, 2),
        "rss_mb_before": round(before, 1),
        "added_mb": round(added, 1),
        "met": seconds <= MAX_SECONDS and added <= MAX_ADDED_MB,
    }


def run() -> dict[str, Any]:
    """Every case in a fresh process; the slowest and the largest."""
    results = []
    for name in CASES:
        output = subprocess.run(
            [sys.executable, "-m", "bench.ceilings", "--case", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(output))
    return {
        "cases": results,
        "max_seconds": max(r["seconds"] for r in results),
        "max_added_mb": max(r["added_mb"] for r in results),
        "met": all(r["met"] for r in results),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(measure(sys.argv[2])))
        return
    report = run()
    for result in report["cases"]:
        print(
            f"{result['case']:>28}: {result['seconds']:>5} s, +{result['added_mb']:>6} MB "
            f"(post {result['post_mb']} MB) - {result['outcome']}"
        )
    print(
        f"worst: {report['max_seconds']} s (target <= {MAX_SECONDS}), "
        f"+{report['max_added_mb']} MB (target <= {MAX_ADDED_MB}): "
        f"{'met' if report['met'] else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
