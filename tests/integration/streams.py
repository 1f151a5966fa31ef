"""Helpers for broker tests that run a service's runner in-process against real Kafka."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.runner import Runner


async def start(runner: Runner[Any], timeout_s: float = 30) -> asyncio.Task[None]:
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + timeout_s
    while not runner.ready:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("runner did not join its group")
        await asyncio.sleep(0.05)
    return task


async def stop(runner: Runner[Any], task: asyncio.Task[None]) -> None:
    runner.stop()
    done, _ = await asyncio.wait({task}, timeout=30)
    if not done:
        task.cancel()
        raise AssertionError("runner did not stop within 30 s")
    task.result()


async def produce(bootstrap: str, topic: str, values: list[bytes | None],
                  key: bytes = b"k") -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        for v in values:
            await p.send_and_wait(topic, v, key=key)
    finally:
        await p.stop()


async def read_all(bootstrap: str, topic: str, timeout_s: float = 20) -> list[Any]:
    """Every record on the topic now (reads up to the end offsets seen at the start)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest")  # the same as the seek: no reset race
    await c.start()
    try:
        cluster = await c._client.fetch_all_metadata()  # noqa: SLF001 - the topic may be new
        ps = cluster.partitions_for_topic(topic)
        assert ps is not None, f"topic {topic} does not exist"
        parts = [TopicPartition(topic, p) for p in sorted(ps)]
        c.assign(parts)
        ends = await c.end_offsets(parts)
        await c.seek_to_beginning(*parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        for tp in parts:
            while await c.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{topic}: could not read to the end in {timeout_s} s")
                batch = await c.getmany(tp, timeout_ms=200)
                out.extend(r for recs in batch.values() for r in recs if r.offset < ends[tp])
        return out
    finally:
        await c.stop()


async def poll_until(bootstrap: str, topic: str, done: Callable[[list[Any]], bool],
                     timeout_s: float = 20) -> list[Any]:
    """Read the topic until `done(records)` holds, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        recs = await read_all(bootstrap, topic)
        if done(recs):
            return recs
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: condition not met in {timeout_s} s ({len(recs)} records)")
        await asyncio.sleep(0.1)


async def wait_for(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    """Poll an in-process condition (e.g. a runner's metric) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s")
        await asyncio.sleep(0.02)
