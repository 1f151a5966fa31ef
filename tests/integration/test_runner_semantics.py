"""The consume loop's promises, through a real broker: duplicates change nothing, offsets are
committed only for handled records, and a restarted service rebuilds its state from Kafka
without re-emitting what it already produced."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.events import ClockAdvanced, SiteRegistered
from contracts.topics import CLOCK, READINGS, SITES
from services.common.codec import encode, envelope
from services.replay.driver import create_topics
from services.site_simulator.bootstrap import bootstrap
from services.site_simulator.settings import SiteSimulatorSettings
from tests.integration.streams import poll_until, produce, read_all, start, stop, wait_for

pytestmark = pytest.mark.kafka

T0 = datetime(2025, 11, 17, tzinfo=timezone.utc)
END = T0 + timedelta(days=1)


def site() -> bytes:
    s = SiteRegistered(site_id="s1", name="Site 1", zone="Z", it_capacity_kw=100)
    return encode(envelope(s, id="site-s1", time=T0, source="test"))


def tick(hours: int, id: str | None = None) -> bytes:
    t = T0 + timedelta(hours=hours)
    return encode(envelope(ClockAdvanced(now=t, day_start=T0, day_end=END),
                           id=id or f"tick-{hours}", time=t, source="test"))


async def test_duplicates_change_nothing_and_restart_rebuilds_state(kafka_bootstrap: str) -> None:
    prefix = f"rt.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    settings = SiteSimulatorSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    readings = prefix + READINGS.name

    runner = bootstrap(settings)
    task = await start(runner)
    try:
        await produce(kafka_bootstrap, prefix + SITES.name, [site(), site()])
        # the site must be known before time moves (the replay's barrier does this in a demo)
        reg = runner.metrics.consumed.labels(prefix + SITES.name, "compflex.site.registered",
                                             "duplicate")
        await wait_for(lambda: reg._value.get() == 1)  # noqa: SLF001
        # the same tick twice (same id), then a new tick for the same instant: 60 readings
        await produce(kafka_bootstrap, prefix + CLOCK.name, [tick(1), tick(1), tick(1, "again")])
        recs = await poll_until(kafka_bootstrap, readings, lambda rs: len(rs) >= 60)
        ok = runner.metrics.consumed.labels(prefix + CLOCK.name, "sim.clock.advanced", "ok")
        dup = runner.metrics.consumed.labels(prefix + CLOCK.name, "sim.clock.advanced",
                                             "duplicate")
        await wait_for(lambda: ok._value.get() + dup._value.get() == 3)  # noqa: SLF001
    finally:
        await stop(runner, task)
    assert len(recs) == 60
    assert dup._value.get() == 1  # noqa: SLF001

    # committed offsets cover exactly what was handled
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group)
    finally:
        await admin.close()
    by_topic = {tp.topic: meta.offset for tp, meta in offsets.items()}
    assert by_topic[prefix + CLOCK.name] == 3
    assert by_topic[prefix + SITES.name] == 2

    # a fresh process: replays its inputs to rebuild state, suppressing old outputs, then
    # continues from 01:00 to 02:00 with no reading repeated
    runner2 = bootstrap(settings)
    task2 = await start(runner2)
    try:
        await produce(kafka_bootstrap, prefix + CLOCK.name, [tick(2)])
        recs = await poll_until(kafka_bootstrap, readings, lambda rs: len(rs) >= 120)
        replayed = runner2.metrics.replayed.labels(prefix + CLOCK.name)
        assert replayed._value.get() == 3  # noqa: SLF001
    finally:
        await stop(runner2, task2)
    recs = await read_all(kafka_bootstrap, readings)
    assert len(recs) == 120
    starts = [r.value for r in recs]
    assert len(set(starts)) == 120  # no duplicate reading
