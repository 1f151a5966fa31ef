"""Every record on every catalogue topic (each is some service's input) sent again with the same
bytes, key and headers, after each tick of the seed day: the day settles exactly as without."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import CATALOGUE
from services.replay.driver import ServiceProcs
from tests.reliability.harness import (
    Day,
    command_content,
    distinct,
    outcome,
    run_day,
    write_result,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.reliability]


COPY = "reliability.copy"
"""Marks the copies (so they are not copied again); no service reads it."""


class Doubler:
    """Re-sends each record written since its last call, once (not its own copies)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.done: dict[TopicPartition, int] = {}
        self.sent: Counter[str] = Counter()

    async def __call__(self) -> None:
        tps = [TopicPartition(self.prefix + t.name, p) for t in CATALOGUE
               for p in range(t.partitions)]
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        p = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await c.start()
        await p.start()
        try:
            c.assign(tps)
            ends = await c.end_offsets(tps)
            todo = {tp: (self.done.get(tp, 0), ends[tp]) for tp in tps
                    if ends[tp] > self.done.get(tp, 0)}
            sends = []
            for tp, (start, end) in todo.items():
                c.seek(tp, start)
                while await c.position(tp) < end:
                    for rec in (await c.getmany(tp, timeout_ms=500)).get(tp, []):
                        if rec.offset < end and (COPY, b"1") not in rec.headers:
                            sends.append(await p.send(tp.topic, rec.value, key=rec.key,
                                                      partition=tp.partition,
                                                      headers=[*rec.headers, (COPY, b"1")]))
                            self.sent[tp.topic.removeprefix(self.prefix)] += 1
            await asyncio.gather(*sends)
            self.done = dict(ends)
        finally:
            await p.stop()
            await c.stop()


def test_every_record_twice_changes_nothing(kafka_bootstrap: str, tmp_path: Path,
                                           reference: Day) -> None:
    prefix = "rel.dup." + tmp_path.name[-8:].replace("/", "") + "."
    doubler = Doubler(kafka_bootstrap, prefix)

    async def double(procs: ServiceProcs, i: int) -> None:
        await doubler()

    t0 = time.monotonic()
    day = asyncio.run(run_day(kafka_bootstrap, tmp_path, double, prefix=prefix,
                              before_read=doubler))
    figures = outcome(day, reference, time.monotonic() - t0)
    write_result("duplicates", {
        "test": "duplicates", "duplicates_injected": sum(doubler.sent.values()),
        "duplicates_by_topic": dict(doubler.sent), "restarts": 0, **figures})

    # the seed day's traffic, every topic of it copied
    assert set(doubler.sent) >= {
        "sim.clock.v1", "compflex.sites.v1", "compflex.jobs.v1", "grid.signals.v1",
        "beckn.orders.v1", "beckn.updates.v1", "beckn.callbacks.v1", "beckn.statuses.v1",
        "compflex.placements.v1", "site.commands.v1", "fulfilment.responses.v1",
        "metering.readings.v1", "metering.verifications.v1", "settlement.statements.v1"}
    # Money, energy, carbon: the same statement, field for field.
    assert day.statement == reference.statement
    # The summary too, but for the raw counts of Beckn records and dead letters: the copies are
    # on the Beckn topics, and a copied Beckn message is a replay, which signature checking
    # rejects to the dead-letter topic by design (BECKN-006 replay protection, docs/security.md)
    raw = ("beckn_messages", "dead_letters")
    assert ({k: v for k, v in day.summary.items() if k not in raw}
            == {k: v for k, v in reference.summary.items() if k not in raw})
    assert all(" replayed_message " in r and r.split(":")[0].startswith("dlq.")
               for r in day.dead_letter_reasons), day.dead_letter_reasons
    beckn_copies = sum(n for t, n in doubler.sent.items() if t.startswith("beckn."))
    assert 0 < day.dead_letters <= beckn_copies * 6  # each Beckn copy, once per reader at most
    assert figures["doubled_new_id"] == 0
    assert distinct(day.commands, command_content) == distinct(reference.commands,
                                                               command_content)
