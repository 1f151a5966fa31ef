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
    await asyncio.wait_for(task, 30)


async def produce(bootstrap: str, topic: str, values: list[bytes | None],
                  key: bytes = b"k") -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        for v in values:
            await p.send_and_wait(topic, v, key=key)
    finally:
        await p.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        await c._client.force_metadata_update()  # noqa: SLF001 - topic created after start
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        c.assign(parts)
        ends = await c.end_offsets(parts)
        await c.seek_to_beginning(*parts)
        out: list[Any] = []
        while sum(len([r for r in out if r.partition == tp.partition]) for tp in parts) < sum(
                ends.values()):
            batch = await c.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
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
