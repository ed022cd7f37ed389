"""A small HTTP/1.1 keep-alive load generator on raw asyncio sockets.

Python HTTP clients cost more per request than the servers being measured; writing prepared
request bytes straight to sockets keeps the client out of the way. Each connection sends one
request at a time and records the latency of each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RequestFactory = Callable[[int], bytes]


@dataclass
class LoadResult:
    """What one measured phase produced."""

    completed: int = 0
    """Responses inside the measured window."""
    total: int = 0
    """Responses in the whole phase, warm-up included."""
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    """The measured window in wall-clock time (`time.time()`), to line up with other samples."""
    cpu_seconds: float = 0.0
    """CPU time the load generator itself used during the whole phase."""

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency at `fraction` (0..1), in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(
    host: str,
    port: int,
    make_request: RequestFactory,
    *,
    connections: int,
    seconds: float,
    warmup: float,
) -> LoadResult:
    """Drive the server with `connections` keep-alive connections; measure after `warmup`."""
    result = LoadResult()
    counter = iter(range(1 << 62))
    cpu_started = time.process_time()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    wall = time.time() - start
    result.window = (wall + measure_from, wall + stop_at)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(make_request(next(counter)))
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    result.errors += 1
                    return
                done = time.perf_counter()
                result.total += 1
                if now >= measure_from:
                    result.completed += 1
                    result.latencies.append(done - now)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    result.seconds = seconds
    result.cpu_seconds = time.process_time() - cpu_started
    return result
