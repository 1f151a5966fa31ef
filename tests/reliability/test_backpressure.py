"""Backpressure: a runner catching up on 300,000 meter readings keeps its memory to what its
settings allow (max_poll_records, max_partition_fetch_bytes) plus its legitimate state (the
dedupe ids), not to the size of the backlog."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from contracts.events import MeterReadingRecorded
from contracts.topics import READINGS
from services.common.codec import encode, envelope
from services.common.runner import Dedupe
from services.replay.driver import create_topics
from tests.reliability.harness import REPO, write_result

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

N = 300_000
MIB = 1 << 20
FETCH_BYTES = 1 * MIB
"""aiokafka's max_partition_fetch_bytes (the runner keeps the default)."""
SLACK = 24 * MIB
"""Allocator arenas, the prometheus registry, the event loop: measured ~10 MiB idle."""


def reading(i: int) -> tuple[bytes, bytes]:
    t = datetime(2025, 11, 17, tzinfo=UTC) + timedelta(minutes=i % 1440)
    site = f"site-{i % 16}"
    ev = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=1),
                              import_kwh=20.0, load_kwh=20.0, battery_discharge_kwh=0.0)
    return site.encode(), encode(envelope(ev, id=f"reading-{site}-{i:09d}", time=t,
                                          source="backlog"))


def legitimate_state(ids: list[str]) -> int:
    """Bytes the dedupe set holds for these ids (the runner's only state here)."""
    tracemalloc.start()
    d = Dedupe()
    for i in ids:
        d.remember(i)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size


async def test_backlog_catch_up_memory_is_bounded(kafka_bootstrap: str) -> None:
    prefix = f"bp.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20,
                         max_batch_size=MIB)
    await p.start()
    raw = 0
    try:
        futs = []
        for i in range(N):
            key, value = reading(i)
            raw += len(value)
            futs.append(await p.send(prefix + READINGS.name, value, key=key))
        for f in futs:
            await f
    finally:
        await p.stop()
    state = legitimate_state([f"reading-site-{i % 16}-{i:09d}" for i in range(N)])
    t0 = time.monotonic()
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "tests.reliability.backlog_child",
                          kafka_bootstrap, prefix, str(N)], cwd=REPO, capture_output=True,
                         timeout=600, check=True)
    got = json.loads(out.stdout.decode().strip().splitlines()[-1])
    growth = got["peak_rss"] - got["baseline_rss"]
    partitions = READINGS.partitions
    buffers = partitions * FETCH_BYTES * 4 + got["max_batch"] * 4096
    bound = state + buffers + SLACK
    write_result("backpressure", {
        "test": "backpressure", "backlog_records": N, "backlog_bytes": raw,
        "legitimate_state_bytes": state, "buffer_bound_bytes": buffers,
        "rss_growth_bytes": growth, "rss_bound_bytes": bound, "catch_up_seconds":
        round(got["seconds"], 1), "records_per_second": round(N / got["seconds"]),
        "seconds": round(time.monotonic() - t0, 1)})
    assert got["consumed"] == N and got["ids_remembered"] == N
    assert growth <= bound, (growth / MIB, bound / MIB)
