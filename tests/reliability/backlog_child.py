"""A runner catching up on a backlog, in its own process so its RSS is its own:
`python -m tests.reliability.backlog_child BOOTSTRAP PREFIX N` prints one JSON line (baseline,
start-up and peak RSS in bytes, seconds, ids remembered). `... --state FIRST N` prints the RSS a
fresh interpreter's dedupe set of the reading ids FIRST..N-1 costs (allocator rounding included)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from contracts.topics import READINGS
from services.common.metrics import stream_metrics
from services.common.runner import Dedupe, Runner, ignore
from services.common.settings import ServiceSettings

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def reading_id(i: int) -> str:
    return f"reading-site-{i % 16}-{i:09d}"


def state_rss(first: int, n: int) -> int:
    base = rss()
    d = Dedupe()
    for i in range(first, n):
        d.remember(reading_id(i))  # the id strings count: in the runner only the dedupe holds them
    return rss() - base


async def main(bootstrap: str, prefix: str, n: int) -> dict[str, float]:
    settings = ServiceSettings(service_name="backlog", bootstrap_servers=bootstrap,
                               topic_prefix=prefix)
    runner: Runner[None] = Runner(settings, None,
                                  {t: ignore for t in READINGS.types}, (READINGS,),
                                  stream_metrics())
    ok = runner.metrics.consumed.labels(prefix + READINGS.name, READINGS.types[0], "ok")
    base = peak = rss()
    started: tuple[int, int] | None = None  # RSS, ids: clients up, first batch handled
    t0 = time.monotonic()
    task = asyncio.ensure_future(runner.run())
    while ok._value.get() < n and not task.done():
        now = rss()
        peak = max(peak, now)
        if started is None and ok._value.get() > 0:
            started = now, len(runner.dedupe._seen)
        await asyncio.sleep(0.02)
    seconds = time.monotonic() - t0
    peak = max(peak, rss())
    runner.stop()
    await task
    start_rss, ids_at_start = started or (base, 0)
    return {"baseline_rss": base, "start_rss": start_rss, "ids_at_start": ids_at_start,
            "peak_rss": peak, "seconds": seconds,
            "consumed": ok._value.get(), "ids_remembered": len(runner.dedupe._seen),
            "max_batch": settings.max_batch}


if __name__ == "__main__":
    if sys.argv[1] == "--state":
        print(json.dumps({"state_rss": state_rss(int(sys.argv[2]), int(sys.argv[3]))}))
    else:
        print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
