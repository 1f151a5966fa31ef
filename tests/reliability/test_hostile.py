"""Hostile input: 10,000 generated bad records on every consumed topic, interleaved with the
seed day's real traffic: each is dead-lettered, with its reason, by every service that reads
that topic; no process dies; the day settles exactly as without them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import CATALOGUE, SERVICES, by_name, consumed_by, dead_letter_topic
from services.common.codec import DecodeError, decode
from services.common.signing import HEADER, KeyId, PrivateKey, sign
from services.replay.domain import tick_times
from services.replay.driver import BECKN_TOPICS, ServiceProcs
from tests.reliability.harness import INJECTED, Day, compare, run_day, scenario, write_result
from tests.reliability.hostile import Hostile

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.reliability]

PER_TOPIC = 10_000
MARK = INJECTED
CONSUMED = sorted({t.name for s in SERVICES for t in consumed_by(s)})


class Injector:
    """Keeps one real record per topic as a template and sends hostile records in chunks."""

    def __init__(self, bootstrap: str, prefix: str, procs: ServiceProcs) -> None:
        self.bootstrap, self.prefix, self.procs = bootstrap, prefix, procs
        self.templates: dict[str, bytes] = {}
        self.hostile = Hostile()
        self.sent: dict[tuple[str, int], set[int]] = {}  # (topic, partition) -> offsets
        self.tried: Counter[str] = Counter()
        self.families: Counter[str] = Counter()
        self.signed: Counter[str] = Counter()
        self.decode_accepted: Counter[str] = Counter()
        self.kinds = {t.name: set(t.types) for t in CATALOGUE}

    async def learn(self) -> None:
        """The first real record of each consumed topic that has one yet."""
        todo = [n for n in CONSUMED if n not in self.templates]
        tps = [TopicPartition(self.prefix + n, p) for n in todo for p in range(by_name(n).partitions)]
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await c.start()
        try:
            c.assign(tps)
            ends = await c.end_offsets(tps)
            for tp in tps:
                name = tp.topic.removeprefix(self.prefix)
                if name in self.templates or ends[tp] == 0:
                    continue
                c.seek(tp, 0)
                got = (await c.getmany(tp, timeout_ms=2000)).get(tp, [])
                real = [r for r in got if MARK not in r.headers]
                if real:
                    self.templates[name] = real[0].value
        finally:
            await c.stop()

    def _signer(self, topic: str) -> tuple[PrivateKey, KeyId]:
        env = self.procs.envs[by_name(topic).owner]
        key = PrivateKey.from_b64(Path(env["DEGFLEX_BECKN_SIGNING_KEY_FILE"]).read_text("ascii"))
        return key, KeyId(env["DEGFLEX_BECKN_SUBSCRIBER_ID"], env["DEGFLEX_BECKN_KEY_ID"])

    async def inject(self, n: int) -> None:
        await self.learn()
        p = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20,
                             max_batch_size=1 << 20, max_request_size=2 << 20)
        await p.start()
        try:
            futs = []
            for name in CONSUMED:
                signer = self._signer(name) if name in BECKN_TOPICS else None
                for j, (family, value) in enumerate(
                        self.hostile.records(name, n, self.templates, self.kinds)):
                    headers = [MARK]
                    if signer is not None and j % 2 == 0:  # half signed: no signature reason
                        now = int(time.time())
                        sig = sign(value, signer[0], signer[1], now, now + 3600)
                        headers.append((HEADER, sig.header_value().encode("ascii")))
                        self.signed[name] += 1
                    try:
                        decode(value)
                        self.decode_accepted[f"{name} {family}"] += 1
                    except (DecodeError, ValueError):
                        pass
                    futs.append((name, family, await p.send(self.prefix + name, value,
                                                            headers=headers)))
            for name, family, fut in futs:
                md = await fut
                self.sent.setdefault((name, md.partition), set()).add(md.offset)
                self.tried[name] += 1
                self.families[family] += 1
        finally:
            await p.stop()


async def dead_letters(bootstrap: str, prefix: str) -> list[tuple[str, str, int, int, str]]:
    """(service, source topic, partition, offset, reason) of every dead letter."""
    out = []
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        for s in SERVICES:
            tp = TopicPartition(prefix + dead_letter_topic(s), 0)
            c.assign([tp])
            end = (await c.end_offsets([tp]))[tp]
            c.seek(tp, 0)
            while await c.position(tp) < end:
                for r in (await c.getmany(tp, timeout_ms=1000, max_records=10_000)).get(tp, []):
                    h = dict(r.headers)
                    out.append((s, h["dlq.source.topic"].decode().removeprefix(prefix),
                                int(h["dlq.source.partition"]), int(h["dlq.source.offset"]),
                                h.get("dlq.reason", b"").decode()))
    finally:
        await c.stop()
    return out


def test_hostile_records_are_dead_lettered_and_change_nothing(
        kafka_bootstrap: str, tmp_path: Path, reference: Day) -> None:
    prefix = "rel.hostile." + tmp_path.name[-8:].replace("/", "") + "."
    ticks = len(tick_times(scenario()))
    at = {ticks // 4, ticks // 2, (3 * ticks) // 4}  # spread over the day, between real ticks
    state: dict[str, Injector] = {}

    async def hurt(procs: ServiceProcs, i: int) -> None:
        if "inj" not in state:  # once: its hypothesis pools take seconds to draw
            state["inj"] = Injector(kafka_bootstrap, prefix, procs)
        inj = state["inj"]
        if i in at:
            share = PER_TOPIC // len(at) + (PER_TOPIC % len(at) if i == max(at) else 0)
            await inj.inject(share)

    t0 = time.monotonic()
    dlq: list[tuple[str, str, int, int, str]] = []

    async def collect() -> None:
        dlq.extend(await dead_letters(kafka_bootstrap, prefix))

    day = asyncio.run(run_day(kafka_bootstrap, tmp_path, hurt, prefix=prefix,
                              before_read=collect))
    inj = state["inj"]
    # dead letters of our records, per (service, topic); every one with a reason
    ours = [d for d in dlq if d[3] in inj.sent.get((d[1], d[2]), ())]
    per: Counter[tuple[str, str]] = Counter((d[0], d[1]) for d in ours)
    reasons = Counter(f"{d[1]}: {d[4]}" for d in ours)
    expected = {(s, t.name): inj.tried[t.name] for s in SERVICES for t in consumed_by(s)}
    lost = sum(max(0, n - per.get(k, 0)) for k, n in expected.items())
    write_result("hostile", {
        "test": "hostile", "bad_records": sum(inj.tried.values()),
        "bad_records_by_topic": dict(inj.tried), "families": dict(inj.families),
        "signed_by_topic": dict(inj.signed), "decoded_but_bad": dict(inj.decode_accepted),
        "dead_lettered_by_service_topic": {f"{s} {t}": n for (s, t), n in sorted(per.items())},
        "bad_records_not_dead_lettered": lost, "dead_letter_reasons": dict(reasons),
        "restarts": 0, "seconds": round(time.monotonic() - t0, 1), **compare(day, reference)})

    assert set(inj.tried) == set(CONSUMED) and all(n == PER_TOPIC for n in inj.tried.values())
    assert all(d[4] for d in ours)
    assert dict(per) == expected, {k: (per.get(k, 0), n) for k, n in expected.items()
                                   if per.get(k, 0) != n}
    assert day.statement == reference.statement
    assert compare(day, reference)["records_lost"] == 0
