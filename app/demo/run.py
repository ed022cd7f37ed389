"""`python -m app demo`: start the service on a fresh SQLite file and post the sample emails.

Every sample goes through the real webhook over HTTP, exactly as SendGrid would post it; the
in-process worker then runs the whole pipeline (guards, identity, agent, render, verify, policy,
outbox, send through the log transport), and the demo prints what happened to each email and a
summary table. It exits when done (non-zero if any email errored), or with `--serve` keeps the
service running for the admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn

from app.admin.staff import create_staff
from app.agent import exchange_log
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade_database
from app.db.models import Message, Reply, ToolCall
from app.db.scope import ALL_STORES
from app.db.statuses import MessageStatus, ReplyStatus
from app.db.stores import DEFAULT_STORE_ID
from app.demo.after_sale import show_checkin
from app.demo.deliveries import DemoWorld, Posted, Sample, post_samples
from app.intake import messages
from app.intake.fetching import HttpxGet
from app.jobs import queue
from app.logs import configure_logging
from app.main import create_app
from app.providers import build_providers
from app.replies import outbox
from app.replies.policy import Action
from app.store.knowledge import import_demo_knowledge

DEMO_DATABASE = Path("var/demo.sqlite3")
DEMO_OUTBOX = Path("var/demo-outbox")
DEMO_STAFF = "staff@demo-store.example"
REPLY_LINES = 24
PROCESSING_TIMEOUT_SECONDS = 60.0


async def run_demo(*, serve_port: int | None = None) -> int:
    """Run the demo and print a report; return the process exit code (1 if anything errored).

    With `serve_port`, the service then keeps running on that port for the admin, with a staff
    account for the demo, until interrupted.
    """
    configure_logging("WARNING")
    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    for leftover in DEMO_DATABASE.parent.glob(DEMO_DATABASE.name + "*"):
        leftover.unlink()
    shutil.rmtree(DEMO_OUTBOX, ignore_errors=True)
    world = DemoWorld()
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{DEMO_DATABASE}",
        WORKER_MODE="inline",
        WORKER_POLL_SECONDS=0.2,
        MAIL_LOG_DIR=str(DEMO_OUTBOX),
        **world.settings(),
    )
    # The providers' APIs (Resend's, the SNS certificate host) are the demo's fake, in process.
    providers = build_providers(settings)
    fake_get = HttpxGet(timeout=settings.INBOUND_FETCH_TIMEOUT_SECONDS, transport=world.transport())
    providers = replace(providers, http_get=fake_get, closers=[*providers.closers, fake_get.aclose])
    db = Database.connect(settings.DATABASE_URL)
    print(f"Migrating {DEMO_DATABASE} ...")
    await upgrade_database(db)
    # The demo store's help articles (sizing, care, shipping abroad...), for `search_help`.
    await import_demo_knowledge(db.for_store(DEFAULT_STORE_ID))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db=db, providers=providers),
            host="127.0.0.1",
            port=serve_port or 0,
            log_config=None,
            lifespan="on",
            # Only `create_app` may believe X-Forwarded-For (FORWARDED_ALLOW_IPS).
            proxy_headers=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    code = 0
    try:
        while not server.started:
            if serving.done():
                await serving
                return 1
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(
            f"Service listening on http://127.0.0.1:{port}; posting the sample emails to each "
            "provider's route, /webhooks/<provider>/inbound.\nResend's API and Amazon SNS's "
            "certificate are played in process by the demo (app/demo/outside_world.py); "
            "nothing leaves this machine.\n"
        )
        results = await post_samples(f"http://127.0.0.1:{port}", world)
        await _wait_for_worker(db)
        rows = await _gather(db, results)
        code = _report(rows)
        if not await show_checkin(db, settings, providers.mail, f"http://127.0.0.1:{port}"):
            print("\nERRORS:\n  no delivered order's check-in was sent")
            code = 1
        if serve_port is not None:
            await _serve_admin(db, port, serving)
    finally:
        server.should_exit = True
        await serving
        await providers.aclose()
        await db.dispose()
    return code


def _report(rows: list[SampleRow]) -> int:
    for row in rows:
        _print_details(row)
    _print_table(rows)
    problems = [f"{row.number}. {row.sample.name}: {row.problem}" for row in rows if row.problem]
    if problems:
        print("\nERRORS:\n  " + "\n  ".join(problems))
        return 1
    print(
        f"\nReplies sent through the log transport are in {DEMO_OUTBOX}/ (one .eml each); the "
        f"database is {DEMO_DATABASE}."
    )
    return 0


async def _serve_admin(db: Database, port: int, serving: asyncio.Task[None]) -> None:
    """Keep serving for the admin, with a demo staff account, until interrupted."""
    password = secrets.token_urlsafe(12)
    async with db.write() as session:
        await create_staff(session, email=DEMO_STAFF, password=password, name="Demo staff")
    print(
        f"\nThe admin is at http://127.0.0.1:{port}/admin — log in as {DEMO_STAFF} with the "
        f"password {password}\n(a demo account made for this run). Press Ctrl-C to stop."
    )
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(serving)


@dataclass(frozen=True, kw_only=True)
class SampleRow:
    """What happened to one posted sample, for the report."""

    number: int
    sample: Sample
    status_code: int
    ack: dict[str, Any]
    message: Message | None
    calls: list[ToolCall]
    reply: Reply | None

    @property
    def decision(self) -> str:
        """Sent / draft / skipped / held / quarantined / duplicate, with the reply's fate."""
        if self.ack.get("status") == "duplicate":
            return "duplicate"
        if self.message is None:
            return "not stored"
        if self.reply is not None and self.reply.decision == Action.SEND.value:
            return "sent" if self.reply.status == ReplyStatus.SENT else f"send: {self.reply.status}"
        return {
            MessageStatus.DRAFTED.value: "draft",
            MessageStatus.SKIPPED.value: "skipped",
            MessageStatus.NEEDS_HUMAN.value: "held",
            MessageStatus.QUARANTINED.value: "quarantined",
        }.get(self.message.status, self.message.status)

    @property
    def reason(self) -> str:
        """Why: the draft's reasons, the guard that skipped it, or the duplicate key."""
        if self.ack.get("status") == "duplicate":
            return "SendGrid retried; stored once"
        if self.reply is not None and self.reply.decision == Action.DRAFT.value:
            return "; ".join(self.reply.decision_reasons or [])
        if self.message is not None and self.message.status_reason:
            return self.message.status_reason
        return ""

    @property
    def problem(self) -> str | None:
        """What went wrong, if anything (the demo then exits non-zero)."""
        if self.status_code != 200:
            return f"webhook answered HTTP {self.status_code}"
        if self.message is None:
            return None if self.ack.get("status") == "duplicate" else "not stored"
        if self.message.status not in FINISHED:
            return f"processing stopped at {self.message.status}"
        if self.reply is not None and self.reply.status in (
            ReplyStatus.DEAD,
            ReplyStatus.UNKNOWN,
            ReplyStatus.FAILED,
        ):
            return f"reply {self.reply.status}: {self.reply.last_error}"
        return None


FINISHED = frozenset(
    {
        MessageStatus.ANSWERED.value,
        MessageStatus.DRAFTED.value,
        MessageStatus.SKIPPED.value,
        MessageStatus.NEEDS_HUMAN.value,
        MessageStatus.QUARANTINED.value,
    }
)


async def _wait_for_worker(db: Database) -> None:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        async with db.read(ALL_STORES) as session:
            if await queue.count_unfinished(session) == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("the worker did not finish the sample emails in time")


async def _gather(db: Database, results: list[Posted]) -> list[SampleRow]:
    ids = [posted.ack["id"] for posted in results if "id" in posted.ack]
    rows = []
    async with db.read(ALL_STORES) as session:
        stored = await messages.get_messages(session, ids)
        for number, (sample, status_code, body) in enumerate(
            ((p.sample, p.status_code, p.ack) for p in results), start=1
        ):
            message = stored.get(body.get("id", -1))
            duplicate = body.get("status") == "duplicate"
            calls, replies = [], []
            if message is not None and not duplicate:
                calls = await exchange_log.latest_run_calls(session, message.id)
                replies = await outbox.replies_for(session, message.id)
            rows.append(
                SampleRow(
                    number=number,
                    sample=sample,
                    status_code=status_code,
                    ack=body,
                    message=None if duplicate else message,
                    calls=calls,
                    reply=replies[-1] if replies else None,
                )
            )
    return rows


def _print_details(row: SampleRow) -> None:
    ack = row.ack
    print(f"{row.number:>2}. {row.sample.name}")
    outcome = f"HTTP {row.status_code} {ack.get('status', '?')} in {ack['elapsed_ms']:.0f} ms"
    print(f"    webhook: POST {row.sample.route} -> {outcome}")
    if row.message is not None:
        for line in _describe(row.message, row.calls):
            print(f"    {line}")
    if row.message is not None or row.ack.get("status") == "duplicate":
        print(f"    decision: {row.decision}" + (f" ({row.reason})" if row.reason else ""))
    if row.reply is not None:
        reply = row.reply
        print(f"    reply:   to {reply.to_address}, {reply.language}, subject {reply.subject!r}")
        for line in (reply.text_body or "").splitlines()[:REPLY_LINES]:
            print(f"      | {line}")
    if row.message is not None and row.message.steps:
        timings = ", ".join(f"{s['step']} {s['ms']:.0f}" for s in row.message.steps)
        total = sum(float(s["ms"]) for s in row.message.steps)
        print(f"    steps:   {timings} ms (total {total:.0f} ms)")
    print()


def _print_table(rows: list[SampleRow]) -> None:
    print(
        "Summary: provider route -> HTTP -> email -> intent -> tools called -> decision (reason) "
        "-> reply preview"
    )
    header = (
        f"{'#':>2}  {'provider':<10} {'HTTP':<4} {'email':<34} {'intent':<18} {'tools':<26} "
        f"{'decision':<11} preview"
    )
    print(header)
    print("-" * min(len(header) + 50, 160))
    for row in rows:
        plan = row.message.reply_plan if row.message is not None else None
        intent = str(plan["intent"]) if plan else "-"
        tools = ",".join(dict.fromkeys(c.tool for c in row.calls)) or "-"
        preview = _preview(row.reply.text_body if row.reply else None) or row.reason
        print(
            f"{row.number:>2}  {row.sample.provider:<10} {row.status_code:<4} "
            f"{_cut(row.sample.name, 34):<34} {_cut(intent, 18):<18} {_cut(tools, 26):<26} "
            f"{row.decision:<11} {_cut(preview, 50)}"
        )
    stored = [row for row in rows if row.message is not None]
    sent = sum(row.decision == "sent" for row in rows)
    drafts = sum(row.decision == "draft" for row in rows)
    skipped = sum(row.decision == "skipped" for row in rows)
    print(
        f"\n{len(rows)} posts, {len(stored)} stored: {sent} answered without a person, "
        f"{drafts} drafts for staff, {skipped} never answered, "
        f"{len(stored) - sent - drafts - skipped} held or quarantined for a person."
    )
    _print_routes(rows)


def _print_routes(rows: list[SampleRow]) -> None:
    """One line per provider route: what it answered and what became of its mail."""
    print("\nRoutes: provider -> webhook route -> HTTP answers -> decisions")
    header = f"{'provider':<10} {'route':<34} {'HTTP':<10} decisions"
    print(header)
    print("-" * (len(header) + 40))
    for provider in dict.fromkeys(row.sample.provider for row in rows):
        mine = [row for row in rows if row.sample.provider == provider]
        codes = Counter(str(row.status_code) for row in mine)
        decisions = Counter(row.decision for row in mine)
        print(
            f"{provider:<10} {'POST ' + mine[0].sample.route:<34} {_counts(codes):<10} "
            f"{_counts(decisions)}"
        )


def _counts(counter: Counter[str]) -> str:
    """`200` for one, `200 x16` for several, `sent x2, draft x7` for a mix."""
    return ", ".join(f"{key} x{n}" if n > 1 else key for key, n in counter.items())


def _preview(text: str | None) -> str:
    """The reply's first sentence after the greeting."""
    if not text:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[1:3])


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(message: Message, calls: list[ToolCall]) -> list[str]:
    lines = []
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
