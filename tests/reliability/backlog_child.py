"""A runner catching up on a backlog, in its own process so its RSS is its own:
`python -m tests.reliability.backlog_child BOOTSTRAP PREFIX N` prints one JSON line (baseline and
peak RSS in bytes, seconds, ids remembered)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from contracts.topics import READINGS
from services.common.metrics import stream_metrics
from services.common.runner import Runner, ignore
from services.common.settings import ServiceSettings

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def main(bootstrap: str, prefix: str, n: int) -> dict[str, float]:
    settings = ServiceSettings(service_name="backlog", bootstrap_servers=bootstrap,
                               topic_prefix=prefix)
    runner: Runner[None] = Runner(settings, None,
                                  {t: ignore for t in READINGS.types}, (READINGS,),
                                  stream_metrics())
    ok = runner.metrics.consumed.labels(prefix + READINGS.name, READINGS.types[0], "ok")
    base = peak = rss()
    t0 = time.monotonic()
    task = asyncio.ensure_future(runner.run())
    while ok._value.get() < n and not task.done():
        peak = max(peak, rss())
        await asyncio.sleep(0.02)
    seconds = time.monotonic() - t0
    peak = max(peak, rss())
    runner.stop()
    await task
    return {"baseline_rss": base, "peak_rss": peak, "seconds": seconds,
            "consumed": ok._value.get(), "ids_remembered": len(runner.dedupe._seen),
            "max_batch": settings.max_batch}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
