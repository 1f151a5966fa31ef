"""The replay driver (I/O): topics, service processes, the clock with its barrier, outputs.

Replay time advances in ticks. After each tick the driver waits until every consumer group
has committed everything on every topic it reads (a conservative co-simulation barrier), so
each tick's consequences are complete before the next: the same inputs give the same
results at any speed. Services themselves only ever read time from events.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.events import (
    ClockAdvanced,
    SettlementStatementIssued,
)
from contracts.scenario import Scenario
from contracts.topics import (
    BECKN_CALLBACKS,
    BECKN_ORDERS,
    BECKN_STATUSES,
    BECKN_UPDATES,
    CATALOGUE,
    CLOCK,
    COMMANDS,
    JOBS,
    OPTIONAL_SERVICES,
    SERVICES,
    SITES,
    STATEMENTS,
    consumed_by,
    dead_letter_topic,
)
from services.common.beckn_auth import BECKN_TOPICS as BECKN_TOPIC_NAMES
from services.common.codec import Decoded, decode, encode, envelope
from services.common.delivery import close_quietly, passing, start_producer
from services.common.ids import stable_id
from services.common.keys import service_keys
from services.replay.domain import jobs_of, sites_of, tick_times

SOURCE = "scenario-replay"
MODULES = {s: f"services.{s.replace('-', '_')}" for s in SERVICES}
Progress = Callable[[str], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcs:
    """The seven services as separate OS processes."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    log_dir: Path | None = None

    def start(self, bootstrap: str, prefix: str, sc: Scenario, scenario_path: Path,
              log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        bap, bpp = sc.participants.bap, sc.participants.bpp
        # Signed Beckn traffic with keys made for this run; a past day replays in event time,
        # so context.timestamp is not held against the log time (docs/security.md).
        registry, keys = service_keys(log_dir.parent / "keys", (bap.id, bap.uri),
                                      (bpp.id, bpp.uri))
        signing = {"DEGFLEX_BECKN_REGISTRY_FILE": str(registry),
                   "DEGFLEX_BECKN_CHECK_MESSAGE_TTL": "false"}
        for name in SERVICES:
            port = free_port()
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("DEGFLEX_")}
            env = {**inherited, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                   "DEGFLEX_TOPIC_PREFIX": prefix, "DEGFLEX_HTTP_PORT": str(port),
                   "DEGFLEX_SCENARIO": str(scenario_path), "DEGFLEX_BAP_ID": bap.id,
                   "DEGFLEX_BAP_URI": bap.uri, "DEGFLEX_BPP_ID": bpp.id,
                   "DEGFLEX_BPP_URI": bpp.uri, "DEGFLEX_BUYER_ID": bap.buyer_id or bap.id,
                   "DEGFLEX_BUYER_NAME": bap.name,
                   "DEGFLEX_CARBON_PRICE_GBP_PER_TONNE": str(sc.carbon_price_gbp_per_tonne),
                   "DEGFLEX_METER_RESOLUTION_S": str(sc.meter_resolution_minutes * 60),
                   **signing, **keys.get(name, {})}
            self.envs[name], self.ports[name], self.log_dir = env, port, log_dir
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        assert self.log_dir is not None
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]], env=self.envs[name], stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def crash(self, name: str) -> None:
        """kill -9 one service (no SIGTERM courtesy: no final commit, no flush)."""
        p = self.procs[name]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    def restart(self, name: str) -> None:
        """Start a crashed service again with the same settings, keys and port."""
        self._spawn(name)

    def wait_ready(self, timeout_s: float, log_dir: Path) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(self.procs)
        while pending:
            for name in sorted(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    tail = (log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
                try:
                    url = f"http://127.0.0.1:{self.ports[name]}/readyz"
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            pending.discard(name)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"services not ready after {timeout_s:.0f} s: {sorted(pending)}")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 15) -> dict[str, int | None]:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return {n: p.returncode for n, p in self.procs.items()}


def topic_configs(name: str) -> dict[str, str]:
    """Beckn topics carry the broker's receive time, which signature checks hold `expires`
    against (services/common/beckn_auth.py); a sender cannot backdate it. Plus the topic's own
    catalogue settings (the audit log is kept forever)."""
    beckn = {"message.timestamp.type": "LogAppendTime"} if name in BECKN_TOPIC_NAMES else {}
    own = next((dict(t.config) for t in CATALOGUE if t.name == name), {})
    return beckn | own


async def create_topics(bootstrap: str, prefix: str) -> int:
    """Every catalogue topic and dlq.<service> not there yet; returns how many were created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [(prefix + t.name, t.partitions) for t in CATALOGUE]
        names += [(prefix + dead_letter_topic(s), 1) for s in SERVICES + OPTIONAL_SERVICES]
        new = [NewTopic(n, p, 1, topic_configs=topic_configs(n[len(prefix):]))
               for n, p in names if n not in existing]
        if new:
            await admin.create_topics(new)
            await _wait_for_leaders(admin, {t.name: t.num_partitions for t in new})
        return len(new)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, partitions: dict[str, int],
                            timeout_s: float = 30.0) -> None:
    """Until every partition of the new topics has a leader: a client that produces or joins a
    group the moment creation returns otherwise meets NotLeaderForPartition or a missing group
    coordinator on a busy broker."""
    deadline = time.monotonic() + timeout_s
    waiting = dict(partitions)
    while waiting:
        for d in await admin.describe_topics(list(waiting)):
            leaders = [p["leader"] for p in d["partitions"]]
            if d["error_code"] == 0 and len(leaders) == waiting.get(d["topic"]) \
                    and min(leaders) >= 0:
                waiting.pop(d["topic"], None)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topics without a leader for every partition after {timeout_s}"
                               f" s: {sorted(waiting)}")
        await asyncio.sleep(0.05)


async def delete_topics(bootstrap: str, starts_with: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        old = [t for t in await admin.list_topics() if t.startswith(starts_with)]
        if old:
            await admin.delete_topics(old)
        return len(old)
    finally:
        await admin.close()


class Barrier:
    """Waits until every consumer group has committed the end of every topic it reads."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._prefix = prefix
        self._groups: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self._admin.start()
        await self._probe.start()
        for svc in SERVICES:
            tps = []
            for t in consumed_by(svc):
                name = self._prefix + t.name
                tps += [TopicPartition(name, p) for p in range(t.partitions)]
            self._groups[self._prefix + svc] = tps

    async def close(self) -> None:
        await self._probe.stop()
        await self._admin.close()

    async def _ends(self) -> dict[TopicPartition, int]:
        tps = sorted({tp for tps in self._groups.values() for tp in tps})
        return await self._probe.end_offsets(tps)

    async def quiescent(self) -> bool:
        before = await self._ends()
        committed = {g: await self._admin.list_consumer_group_offsets(g) for g in self._groups}
        after = await self._ends()
        if before != after:
            return False
        for g, tps in self._groups.items():
            for tp in tps:
                c = committed[g].get(tp)
                if after[tp] > (c.offset if c is not None and c.offset >= 0 else 0):
                    return False
        return True

    async def wait(self, timeout_s: float = 60) -> None:
        """A broker that is restarting (its connection refused, its coordinator loading) is
        asked again, like a busy one, until the deadline (tests/reliability/test_broker_restart)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if await self.quiescent():
                    return
                pause, problem = 0.005, "still working"
            except KafkaError as exc:
                if not passing(exc):
                    raise
                pause, problem = 0.2, f"broker unavailable: {exc!r}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"services did not settle within {timeout_s:.0f} s ({problem})")
            await asyncio.sleep(pause)


async def replay_day(sc: Scenario, bootstrap: str, prefix: str, speed: float,
                     progress: Progress,
                     after_tick: Callable[[int], Awaitable[None]] | None = None) -> None:
    """Publish the inventory and drive the clock through the day, tick by tick.

    `after_tick(i)` (tests) runs once tick i is sent and before the barrier waits for it."""
    def make() -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)

    producer = make()
    barrier = Barrier(bootstrap, prefix)
    await producer.start()
    await barrier.start()
    try:
        async def publish(topic: str, key: str, value: Any) -> None:
            """Sent again by a new producer when the producer gives it up while the broker
            restarts (services/common/delivery.py); a copy that did land is deduplicated."""
            nonlocal producer
            while True:
                try:
                    await producer.send_and_wait(prefix + topic, encode(value),
                                                 key=key.encode())
                    return
                except KafkaError as exc:
                    if not passing(exc):
                        raise
                    progress(f"broker unavailable ({exc!r}); publishing again")
                await close_quietly(producer)
                producer = await start_producer(make, 1.0)

        for s in sites_of(sc):
            await publish(SITES.name, s.site_id, envelope(
                s, id=stable_id("site", sc.day, s.site_id), time=sc.day_start, source=SOURCE))
        await barrier.wait()
        ticks = tick_times(sc)
        discovery = sc.at(sc.discovery_at)
        wall0, ev0 = time.monotonic(), ticks[0]
        last_hour = -1
        for i, t in enumerate(ticks):
            if speed > 0:
                due = wall0 + (t - ev0).total_seconds() / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if t == discovery:
                for j in jobs_of(sc):
                    await publish(JOBS.name, j.job_id, envelope(
                        j, id=stable_id("job", j.job_id), time=t, source=SOURCE))
                await barrier.wait()
            tick = ClockAdvanced(now=t, day_start=sc.day_start, day_end=sc.day_end)
            await publish(CLOCK.name, sc.day.isoformat(), envelope(
                tick, id=stable_id("tick", t.isoformat()), time=t, source=SOURCE))
            if after_tick is not None:
                await after_tick(i)
            await barrier.wait()
            hour = int((t - sc.day_start).total_seconds() // 3600)
            if hour != last_hour and hour % 2 == 0:
                last_hour = hour
                progress(f"replayed to {t:%H:%M} ({hour / 24:.0%} of the day)")
    finally:
        await barrier.close()
        await producer.stop()


async def read_topics(bootstrap: str, names: list[str]) -> list[Any]:
    """Every record currently on the topics, in (timestamp, topic, partition, offset) order."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    await c.start()
    try:
        parts = []
        cluster = await c._client.fetch_all_metadata()  # noqa: SLF001 - the topics may be new
        for n in names:
            ps = cluster.partitions_for_topic(n)
            if ps is None:
                raise RuntimeError(f"topic {n} does not exist")
            parts += [TopicPartition(n, p) for p in sorted(ps)]
        if not parts:
            return []
        c.assign(parts)
        ends = await c.end_offsets(parts)
        await c.seek_to_beginning(*parts)
        out: list[Any] = []
        async def behind() -> bool:
            for tp in parts:
                if await c.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            batch = await c.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
        return sorted(out, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
    finally:
        await c.stop()


def _statement(rec: Any) -> Decoded | None:
    try:
        d = decode(rec.value)
    except ValueError:
        return None
    return d if d.kind == SettlementStatementIssued.TYPE else None


async def wait_statement(bootstrap: str, prefix: str, timeout_s: float) -> SettlementStatementIssued:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # statement records only: a bad record on the topic (dead-lettered by its readers) is
        # skipped here too, not a crash of the driver (tests/reliability/test_hostile.py)
        recs = [d.value for d in map(_statement, await read_topics(
            bootstrap, [prefix + STATEMENTS.name])) if d is not None]
        if recs:
            return recs[-1].payload
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no settlement statement within {timeout_s:.0f} s")


def latency_ms(records: list[Any], prefix: str) -> float | None:
    """Stress event published -> last of its shift commands published (record timestamps)."""
    stress: dict[str, int] = {}
    done: dict[str, int] = {}
    for r in records:
        doc = json.loads(r.value)
        if r.topic == prefix + BECKN_CALLBACKS.name and doc["context"]["action"] == "on_update":
            attrs = doc["message"]["order"].get("beckn:orderAttributes", {})
            if attrs.get("@type") == "ce:GridStressEvent":
                stress.setdefault(attrs["eventId"], r.timestamp)
        elif r.topic == prefix + COMMANDS.name:
            eid = doc["payload"]["event_id"]
            done[eid] = max(done.get(eid, 0), r.timestamp)
    lat = [done[e] - t for e, t in stress.items() if e in done]
    return float(max(lat)) if lat else None


BECKN_TOPICS = [BECKN_ORDERS.name, BECKN_CALLBACKS.name, BECKN_UPDATES.name, BECKN_STATUSES.name]


def iso(t: datetime) -> str:
    return t.isoformat()
