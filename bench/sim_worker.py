"""A worker process whose providers take real-world time: a 1 s model turn, 150 ms store reads.

    DATABASE_URL=... .venv/bin/python -m bench.sim_worker

Runs one email at a time until SIGTERM (used by `bench.pipeline throughput`).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from app.config import Settings
from app.db.engine import Database
from app.jobs.worker import Worker
from app.providers import Providers
from app.replies.senders import LogMailSender
from bench.backlog import ScriptLLM, SlowShop
from bench.pipeline import MODEL_LATENCY, SHOP_LATENCY


async def main() -> None:
    settings = Settings(
        _env_file=None,
        INBOUND_ALLOW_UNAUTHENTICATED=True,
        WORKER_POLL_SECONDS=0.1,
        REPLY_CAP_PER_SENDER=1_000_000,
        REPLY_CAP_PER_THREAD=1_000_000,
    )
    db = Database.connect(settings.DATABASE_URL)
    providers = Providers(
        shop=SlowShop(SHOP_LATENCY),
        llm=ScriptLLM(MODEL_LATENCY),
        mail=LogMailSender(Path(settings.MAIL_LOG_DIR)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await Worker(db=db, settings=settings, providers=providers).run(stop, concurrency=1)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
