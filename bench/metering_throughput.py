"""Metering validator throughput through real Kafka, against a bare aiokafka consumer.

    python bench/metering_throughput.py [--records 300000] [--sites 200] [--rounds 3]

Starts a local broker on free ports unless KAFKA_BOOTSTRAP_SERVERS is set, publishes N
`metering.reading.recorded` records (10-second readings of `--sites` sites, keyed by site, on the
catalogue's 3-partition readings topic), then alternates, `--rounds` times, (a) a bare aiokafka
`getmany` loop that `json.loads` each record and (b) the metering validator as it runs in
production (`bootstrap(settings)`: the common runner, decode + pydantic validation, dedupe on
message id, the handler summing each reading into its settlement period, metrics, commit after
each batch), each with a fresh consumer group reading the same topic from the start. Both are
timed from the end of their first batch and scaled to N (the runner counts whole batches, so its
clock cannot start earlier). Prints a table of the medians (targets: >= 50,000
readings/s and >= half the bare loop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import load_1m, machine
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.events import MeterReadingRecorded
from contracts.topics import READINGS
from services.common.codec import encode, envelope
from services.common.localkafka import start_unless_env
from services.metering_validator.bootstrap import bootstrap
from services.metering_validator.settings import MeteringValidatorSettings
from services.replay.driver import create_topics

T0 = datetime(2025, 11, 17, tzinfo=UTC)
STEP_S = 10
TARGET_RATE = 50_000
TARGET_RATIO = 0.5


async def publish(bs: str, topic: str, n: int, sites: int) -> int:
    """N readings, `sites` per 10-second step; returns the mean record size in bytes."""
    p = AIOKafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=20,
                         max_batch_size=512 * 1024)
    await p.start()
    size = 0
    try:
        futs = []
        for i in range(n):
            site = f"site-{i % sites:04d}"
            t = T0 + timedelta(seconds=STEP_S * (i // sites))
            kwh = 0.25 + (i % 7) * 0.01
            r = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(seconds=STEP_S),
                                     import_kwh=kwh, load_kwh=kwh, battery_discharge_kwh=0)
            raw = encode(envelope(r, id=f"reading-{site}-{t:%Y%m%dT%H%M%S}", time=t,
                                  source="bench"))
            size += len(raw)
            futs.append(await p.send(topic, raw, key=site.encode()))
            if len(futs) >= 20_000:
                await asyncio.gather(*futs)
                futs.clear()
        await asyncio.gather(*futs)
    finally:
        await p.stop()
    return size // max(n, 1)


async def bare(bs: str, topic: str, n: int) -> tuple[float, float]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bs, group_id=f"bare-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         max_poll_records=5000)
    await c.start()
    try:
        seen = first = 0
        t0 = c0 = 0.0
        while seen < n:
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    json.loads(r.value)
                seen += len(recs)
            if not first and seen:
                t0, c0, first = time.perf_counter(), time.process_time(), seen
        return per_n(n, first, time.perf_counter() - t0, time.process_time() - c0)
    finally:
        await c.stop()


async def validator(bs: str, prefix: str, n: int) -> tuple[float, float, int]:
    """Wall and CPU seconds per n readings (see per_n); the periods summed."""
    settings = MeteringValidatorSettings(bootstrap_servers=bs, topic_prefix=prefix,
                                         group_id=f"mv-bench-{uuid.uuid4().hex[:8]}",
                                         max_batch=5000)
    r = bootstrap(settings)
    task = asyncio.create_task(r.run())
    counter = r.metrics.consumed.labels(prefix + READINGS.name, "metering.reading.recorded", "ok")
    first = 0
    t0 = c0 = 0.0
    while counter._value.get() < n:
        if not first and counter._value.get() > 0:
            t0, c0, first = time.perf_counter(), time.process_time(), int(counter._value.get())
        if task.done():
            task.result()
        await asyncio.sleep(0.002)
    elapsed, cpu = per_n(n, first, time.perf_counter() - t0, time.process_time() - c0)
    r.stop()
    await task
    return elapsed, cpu, sum(len(m.periods) for m in r.state.meters.values())


def per_n(n: int, first: int, wall: float, cpu: float) -> tuple[float, float]:
    """Both consumers are timed from the end of their first batch (the runner counts whole
    batches, so its clock cannot start earlier); the seconds they took for the n - first
    records after it, scaled to n records."""
    if not 0 < first < n:
        raise SystemExit(f"first batch held {first} of {n} records: use more records")
    scale = n / (n - first)
    return wall * scale, cpu * scale


async def main(n: int, sites: int, rounds: int) -> int:
    load = load_1m()
    bs, broker = start_unless_env()
    try:
        prefix = f"bench.{uuid.uuid4().hex[:6]}."
        await create_topics(bs, prefix)
        topic = prefix + READINGS.name
        t = time.perf_counter()
        size = await publish(bs, topic, n, sites)
        print(f"published {n:,} readings ({size} bytes each) in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
        bares, runs, bare_cpu, run_cpu = [], [], [], []
        periods = 0
        for i in range(rounds):
            w, c = await bare(bs, topic, n)
            bares.append(w)
            bare_cpu.append(c)
            w, c, periods = await validator(bs, prefix, n)
            runs.append(w)
            run_cpu.append(c)
            print(f"round {i + 1}: bare {n / bares[-1]:,.0f}/s, validator {n / runs[-1]:,.0f}/s",
                  file=sys.stderr)
        b, r = statistics.median(bares), statistics.median(runs)
        bc, rc = statistics.median(bare_cpu), statistics.median(run_cpu)
        rate, ratio = n / r, b / r
        print(f"machine: {machine()}, load average {load:.1f} at start")
        print(f"{n:,} readings of {size} bytes, {sites} sites at {STEP_S} s resolution, "
              f"3 partitions; median of {rounds} rounds; {periods:,} settlement periods summed")
        print("| consumer | records | seconds | records/s | CPU µs/record (this process) |\n"
              "|---|---|---|---|---|")
        print(f"| bare aiokafka getmany + json.loads | {n:,} | {b:.2f} | {n / b:,.0f} | "
              f"{bc / n * 1e6:.1f} |")
        print(f"| metering-validator (common runner) | {n:,} | {r:.2f} | {rate:,.0f} | "
              f"{rc / n * 1e6:.1f} |")
        ok = rate >= TARGET_RATE and ratio >= TARGET_RATIO
        print(f"validator / bare = {ratio:.3f} (by CPU per record: {bc / rc:.3f}); "
              f"targets >= {TARGET_RATE:,}/s and >= {TARGET_RATIO}: "
              f"{'met' if ok else 'NOT met'}")
        return 0
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.records, a.sites, a.rounds)))
