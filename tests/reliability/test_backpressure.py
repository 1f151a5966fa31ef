"""Backpressure: a runner catching up on 300,000 meter readings keeps its memory to what its
settings allow (max_poll_records, max_partition_fetch_bytes) plus its legitimate state (the
dedupe ids), not to the size of the backlog.

RSS growth is taken from the runner's start-up (clients connected, first batch handled: a fixed
cost, reported) to its peak; the bound is the RSS the dedupe set of the ids remembered since
then costs in a fresh interpreter (id strings and allocator rounding included) plus the fetch
and batch buffers its settings allow. A runner that held the backlog would exceed it by the
backlog's size."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from contracts.events import MeterReadingRecorded
from contracts.topics import READINGS
from services.common.codec import encode, envelope
from services.replay.driver import create_topics
from tests.reliability.backlog_child import reading_id
from tests.reliability.harness import REPO, write_result

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

N = 300_000
MIB = 1 << 20
FETCH_BYTES = 1 * MIB
"""aiokafka's max_partition_fetch_bytes (the runner keeps the default)."""


def reading(i: int) -> tuple[bytes, bytes]:
    t = datetime(2025, 11, 17, tzinfo=UTC) + timedelta(minutes=i % 1440)
    site = f"site-{i % 16}"
    ev = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=1),
                              import_kwh=20.0, load_kwh=20.0, battery_discharge_kwh=0.0)
    return site.encode(), encode(envelope(ev, id=reading_id(i), time=t, source="backlog"))


def child(*args: str) -> dict[str, int | float]:
    out = subprocess.run([sys.executable, "-m", "tests.reliability.backlog_child", *args],
                         cwd=REPO, capture_output=True, timeout=600, check=True)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


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
    t0 = time.monotonic()
    got = await asyncio.to_thread(child, kafka_bootstrap, prefix, str(N))
    state = int(child("--state", str(got["ids_at_start"]), str(N))["state_rss"])
    growth = got["peak_rss"] - got["start_rss"]
    partitions = READINGS.partitions
    # aiokafka buffers at most one fetch (max_partition_fetch_bytes) per partition, taken as
    # four copies (wire bytes, decoded records, values, the batch), plus max_batch records x 4 kB
    buffers = partitions * FETCH_BYTES * 4 + int(got["max_batch"]) * 4096
    bound = state + buffers
    write_result("backpressure", {
        "test": "backpressure", "backlog_records": N, "backlog_bytes": raw,
        "legitimate_state_bytes": state, "buffer_bound_bytes": buffers,
        "startup_rss_bytes": got["start_rss"] - got["baseline_rss"],
        "rss_growth_bytes": growth, "rss_bound_bytes": bound, "catch_up_seconds":
        round(got["seconds"], 1), "records_per_second": round(N / got["seconds"]),
        "seconds": round(time.monotonic() - t0, 1)})
    assert got["consumed"] == N and got["ids_remembered"] == N
    assert growth <= bound, (growth / MIB, bound / MIB)
