"""Service processes in one consumer group, for the scale-out tests: start, watch their
partition assignment, wait for the group to catch up, stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parents[2]


def spawn(module: str, bootstrap: str, prefix: str, log: Path,
          port: int = 0) -> subprocess.Popen[bytes]:
    """`python -m module` against `bootstrap` with its topics under `prefix`; stderr to `log`."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DEGFLEX_TOPIC_PREFIX": prefix,
           "DEGFLEX_HTTP_PORT": str(port), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", module], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def assigned(log: Path, topic: str) -> set[int] | None:
    """The instance's latest assignment of `topic`'s partitions, from its log."""
    got = None
    for ln in log.read_text(errors="replace").splitlines():
        if "partitions assigned:" in ln:
            got = {int(p) for p in re.findall(re.escape(topic) + r"\[(\d+)\]", ln)}
    return got


async def until(cond: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def committed_to_end(bootstrap: str, group: str, topics: list[str],
                           timeout_s: float = 60) -> None:
    """Wait until `group` has committed every record now on `topics` (all handled)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        cluster = await c._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(cluster.partitions_for_topic(t) or ())]
        ends = await c.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while [tp for tp in tps if (await c.committed(tp) or 0) < ends[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} did not handle {topics} in {timeout_s:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await c.stop()


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every live process, then wait (SIGKILL after 30 s)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
