"""`python -m app demo`: start the service on a fresh SQLite file and post the sample emails.

Every sample goes through the real webhook over HTTP, exactly as SendGrid would post it; the
in-process worker then parses, threads, guards and identifies each one, and the demo prints what
happened to each.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app import exchange_log, inbox, queue
from app.config import Settings
from app.db import Database
from app.demo.sendgrid_posts import SendGridPost, Transport, parsed_mode_post, raw_mode_post
from app.logs import configure_logging
from app.main import create_app
from app.migrate import upgrade_database
from app.models import Message, ToolCall

SAMPLES = Path(__file__).parent / "samples"
DEMO_DATABASE = Path("var/demo.sqlite3")
PROCESSING_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample delivery: a description and the request SendGrid would send."""

    name: str
    post: SendGridPost


def load_samples() -> list[Sample]:
    """Build every sample delivery listed in `samples/samples.json`."""
    manifest = json.loads((SAMPLES / "samples.json").read_text(encoding="utf-8"))
    samples: list[Sample] = []
    for entry in manifest["samples"]:
        transport_spec: dict[str, str] = entry["transport"]
        transport = Transport(
            envelope_from=transport_spec["envelope_from"],
            spf=transport_spec["SPF"],
            dkim=transport_spec["dkim"],
            spam_score=transport_spec.get("spam_score"),
        )
        if "fields" in entry:
            fields = {name: (f["charset"], f["value"]) for name, f in entry["fields"].items()}
            post = parsed_mode_post(fields, transport)
        else:
            eml = (SAMPLES / entry["eml"]).read_bytes() if entry["eml"] else b""
            post = raw_mode_post(eml, transport)
        samples.append(Sample(name=entry["name"], post=post))
    return samples


async def run_demo() -> int:
    """Run the demo and print a report; return the process exit code."""
    configure_logging("WARNING")
    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    for leftover in DEMO_DATABASE.parent.glob(DEMO_DATABASE.name + "*"):
        leftover.unlink()
    password = secrets.token_urlsafe(24)
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{DEMO_DATABASE}",
        INBOUND_BASIC_AUTH_USER="sendgrid",
        INBOUND_BASIC_AUTH_PASSWORD=password,
        INBOUND_SIGNING_PUBLIC_KEY=None,
        WORKER_IN_PROCESS=True,
        WORKER_POLL_SECONDS=0.2,
    )
    db = Database.connect(settings.DATABASE_URL)
    print(f"Migrating {DEMO_DATABASE} ...")
    await upgrade_database(db)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db=db), host="127.0.0.1", port=0, log_config=None, lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving
                return 1
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/webhooks/sendgrid/inbound"
        print(f"Service listening on http://127.0.0.1:{port}; posting the sample emails to {url}\n")
        results = await _post_samples(url, ("sendgrid", password))
        await _wait_for_worker(db)
        await _report(db, results)
    finally:
        server.should_exit = True
        await serving
        await db.dispose()
    return 0


async def _post_samples(
    url: str, auth: tuple[str, str]
) -> list[tuple[Sample, int, dict[str, Any]]]:
    results = []
    async with httpx.AsyncClient(auth=auth, timeout=30) as client:
        for sample in load_samples():
            started = time.perf_counter()
            response = await client.post(
                url, content=sample.post.body, headers={"content-type": sample.post.content_type}
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            body = response.json()
            body["elapsed_ms"] = elapsed_ms
            results.append((sample, response.status_code, body))
    return results


async def _wait_for_worker(db: Database) -> None:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        async with db.read() as session:
            if await queue.count_unfinished(session) == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("the worker did not finish the sample emails in time")


async def _report(db: Database, results: list[tuple[Sample, int, dict[str, Any]]]) -> None:
    ids = [body["id"] for _, _, body in results if "id" in body]
    async with db.read() as session:
        messages = await inbox.get_messages(session, ids)
        calls = {pk: await exchange_log.tool_calls_for(session, pk) for pk in messages}
    for number, (sample, status_code, body) in enumerate(results, start=1):
        ack = f"HTTP {status_code} {body.get('status', '?')} in {body['elapsed_ms']:.0f} ms"
        print(f"{number:>2}. {sample.name}\n    webhook: {ack}")
        message = messages.get(body.get("id", -1))
        if message is not None:
            for line in _describe(message, calls.get(message.id, [])):
                print(f"    {line}")
        print()
    counts: dict[str, int] = {}
    for message in messages.values():
        counts[message.status] = counts.get(message.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    duplicates = sum(1 for _, _, body in results if body.get("status") == "duplicate")
    print(f"{len(results)} posts: {len(messages)} stored ({summary}), {duplicates} duplicate.")
    print(
        "Ready emails wait for the agent; held ones for a person; skipped ones are never answered."
    )


def _describe(message: Message, calls: list[ToolCall]) -> list[str]:
    lines = [
        f"outcome: {message.status}"
        + (f" ({message.status_reason})" if message.status_reason else "")
    ]
    if message.from_header is not None:
        verified = "verified" if message.sender_verified else "NOT verified"
        sender = (
            f"{message.from_name} <{message.from_address}>"
            if message.from_address
            else message.from_header
        )
        lines.append(f"from:    {sender}  -> sender {verified} ({message.identity_reason})")
        lines.append(f"subject: {message.subject}")
    if message.guard_decisions:
        reasons = "; ".join(
            f"{g['code']} [{g['verdict']}]: {g['detail']}" for g in message.guard_decisions
        )
        lines.append(f"guards:  {reasons}")
    if message.clean_text:
        excerpt = " ".join(message.clean_text.split())
        lines.append(f"text:    {excerpt[:110]}{'...' if len(excerpt) > 110 else ''}")
    if message.message_id_reused:
        lines.append("note:    another email with this Message-ID but different content exists")
    plan = message.reply_plan
    if plan:
        handover = f"person needed ({plan['handover_reason']})" if plan["needs_human"] else "no"
        model = "offline rules" if plan["offline"] else "language model"
        lines.append(
            f"plan:    intent {plan['intent']} (confidence {plan['confidence']:.2f}, "
            f"language {plan['language']}), handover: {handover}, by {model}"
        )
    for call in calls:
        lines.append(f"tool:    {call.tool} -> {call.outcome}: {call.summary[:90]}")
    return lines
