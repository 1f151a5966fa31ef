"""Throughput of the common consume loop against a bare aiokafka loop, same topic, same run.

    python bench/stream_throughput.py [--records 200000]

Starts a local broker on free ports unless KAFKA_BOOTSTRAP_SERVERS is set. Publishes N meter
readings (the metering topic's real records), then times (a) a bare aiokafka getmany loop that
JSON-decodes each record, and (b) the metering validator's real Runner (decode + pydantic
validation + handler + dedupe + commit) consuming the same topic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from contracts.events import MeterReadingRecorded  # noqa: E402
from contracts.topics import READINGS  # noqa: E402
from services.common.codec import encode, envelope  # noqa: E402
from services.common.localkafka import start_unless_env  # noqa: E402
from services.metering_validator.bootstrap import bootstrap  # noqa: E402
from services.metering_validator.settings import MeteringValidatorSettings  # noqa: E402
from services.replay.driver import create_topics  # noqa: E402

T0 = datetime(2025, 11, 17, tzinfo=timezone.utc)


async def publish(bs: str, topic: str, n: int) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=20,
                         max_batch_size=512 * 1024)
    await p.start()
    try:
        futs = []
        for i in range(n):
            site = f"site-{i % 100}"
            t = T0 + timedelta(minutes=i // 100)
            r = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=1),
                                     import_kwh=12.5, load_kwh=12.5, battery_discharge_kwh=0)
            futs.append(await p.send(topic, encode(envelope(r, id=f"r-{i}", time=t,
                                                            source="bench")),
                                     key=site.encode()))
        await asyncio.gather(*futs)
    finally:
        await p.stop()


async def bare(bs: str, topic: str, n: int) -> float:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bs, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         max_poll_records=5000)
    await c.start()
    try:
        seen = first = 0
        t0 = 0.0
        while seen < n:
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    json.loads(r.value)
                seen += len(recs)
            if not first and seen:
                t0, first = time.perf_counter(), seen
        await c.commit()
        return per_n(n, first, time.perf_counter() - t0)
    finally:
        await c.stop()


async def runner(bs: str, prefix: str, n: int) -> float:
    settings = MeteringValidatorSettings(bootstrap_servers=bs, topic_prefix=prefix,
                                         max_batch=5000)
    r = bootstrap(settings)
    task = asyncio.create_task(r.run())
    counter = r.metrics.consumed.labels(prefix + READINGS.name, "metering.reading.recorded", "ok")
    first = 0
    t0 = 0.0
    while counter._value.get() < n:  # noqa: SLF001
        if not first and counter._value.get() > 0:  # noqa: SLF001
            t0, first = time.perf_counter(), int(counter._value.get())  # noqa: SLF001
        if task.done():
            task.result()
        await asyncio.sleep(0.001)
    elapsed = per_n(n, first, time.perf_counter() - t0)
    r.stop()
    await task
    return elapsed


def per_n(n: int, first: int, seconds: float) -> float:
    """Both loops are timed from the end of their first batch (the runner counts whole batches);
    the seconds for the records after it, scaled to n."""
    if not 0 < first < n:
        raise SystemExit(f"first batch held {first} of {n} records: use more records")
    return seconds * n / (n - first)


async def main(n: int) -> None:
    bs, broker = start_unless_env()
    try:
        prefix = f"bench.{uuid.uuid4().hex[:6]}."
        await create_topics(bs, prefix)
        topic = prefix + READINGS.name
        t = time.perf_counter()
        await publish(bs, topic, n)
        print(f"published {n} readings in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        b = await bare(bs, topic, n)
        r = await runner(bs, prefix, n)
        print(f"machine: {machine()}")
        print("| consumer | records | seconds | records/s |\n|---|---|---|---|")
        print(f"| bare aiokafka getmany + json.loads | {n} | {b:.2f} | {n / b:,.0f} |")
        print(f"| degflex Runner (metering-validator) | {n} | {r:.2f} | {n / r:,.0f} |")
        print(f"runner / bare = {b / r:.2f}")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=200_000)
    asyncio.run(main(ap.parse_args().records))
