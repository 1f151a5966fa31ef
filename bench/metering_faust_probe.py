"""Probe: the same readings summed per settlement period in a faust-streaming table.

    python bench/metering_faust_probe.py [RECORDS]

Why the metering validator is not on faust (docs/metering.md): publishes RECORDS readings
exactly as bench/metering_throughput.py does, then runs a faust worker whose agent decodes each
reading with the same codec and adds it to a `Table` (in-memory store, changelog topic) keyed by
site and period, and prints readings/s from the first to the last. Not part of `make bench`: it
starts a local broker and exits the process when done (faust's worker owns the event loop).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faust
import metering_throughput as mt

from services.common.codec import decode
from services.common.localkafka import LocalBroker, free_port
from services.metering_validator.periods import epoch_seconds
from services.replay.driver import create_topics


def main(n: int) -> None:
    broker = LocalBroker(home=Path(tempfile.mkdtemp()), port=free_port(),
                         controller_port=free_port())
    bs = broker.start()
    prefix = f"faust.{uuid.uuid4().hex[:6]}."
    asyncio.run(create_topics(bs, prefix))
    asyncio.run(mt.publish(bs, prefix + "metering.readings.v1", n, 200))
    app = faust.App(f"mv-faust-{uuid.uuid4().hex[:6]}", broker=f"kafka://{bs}",
                    store="memory://", topic_partitions=3, web_enabled=False,
                    consumer_auto_offset_reset="earliest", producer_acks=-1)
    topic = app.topic(prefix + "metering.readings.v1", value_serializer="raw",
                      key_serializer="raw")
    table = app.Table("periods", default=float, partitions=3)
    seen = {"n": 0, "t0": 0.0}

    @app.agent(topic)
    async def periods(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            if seen["n"] == 0:
                seen["t0"] = time.perf_counter()
            r = decode(value).value.payload
            s = epoch_seconds(r.start)
            table[f"{r.site_id}|{int(s - s % 1800)}"] += r.import_kwh
            seen["n"] += 1
            if seen["n"] == n:
                dt = time.perf_counter() - seen["t0"]
                # straight to fd 2: the worker redirects print() into its (error-level) log
                os.write(2, f"faust-streaming table agent: {n:,} readings in {dt:.2f} s = "
                            f"{n / dt:,.0f} readings/s\n".encode())
                broker.stop()
                os._exit(0)

    try:
        faust.Worker(app, loglevel="error").execute_from_commandline()
    finally:
        broker.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
