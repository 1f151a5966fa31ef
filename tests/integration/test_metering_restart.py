"""The metering validator's state (ten days of metered history) survives a restart from Kafka
alone: a fresh process verifies the seed event against a DFS baseline exactly as the pure
handlers do when fed the same records without interruption."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.events import FlexibilityVerified, MeterReadingRecorded, Verdict
from contracts.topics import BECKN_CALLBACKS, READINGS, VERIFICATIONS
from services.common.codec import decode, encode, envelope
from services.metering_validator import handlers
from services.metering_validator.bootstrap import bootstrap
from services.metering_validator.periods import LONDON, periods_within
from services.metering_validator.settings import MeteringValidatorSettings
from services.replay.driver import create_topics
from tests.integration.streams import poll_until, start, stop, wait_for
from tests.unit.factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    inbound,
    receiving_answer,
    stress_update,
)

pytestmark = pytest.mark.kafka

EVENT_DAY = date(2025, 11, 17)
HISTORY = [date(2025, 11, d) for d in (14, 13, 12, 11, 10, 7, 6, 5, 4, 3)]  # working days


def readings(site: str, d: date, start: str, end: str, kw: float) -> list[bytes]:
    h0, h1 = int(start[:2]), int(end[:2])
    a = datetime.combine(d, time(h0), LONDON).astimezone(UTC)
    b = (datetime.combine(d, time(h1), LONDON) if h1 < 24 else
         datetime.combine(d + timedelta(days=1), time(0), LONDON)).astimezone(UTC)
    out = []
    for t in periods_within(a, b):
        r = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=30),
                                 import_kwh=kw / 2, load_kwh=kw / 2, battery_discharge_kwh=0)
        out.append(encode(envelope(r, id=f"reading-{site}-{t:%Y%m%dT%H%M}", time=t,
                                   source="test")))
    return out


def before_restart() -> list[tuple[str, str, bytes]]:
    """(topic, key, value): the history and the event morning at both sites."""
    out = []
    for site, kw in ((CAMBRIDGE, 1200), (MANCHESTER, 800)):
        for d in HISTORY:
            out += [(READINGS.name, site, v) for v in readings(site, d, "00", "24", kw)]
        out += [(READINGS.name, site, v) for v in readings(site, EVENT_DAY, "00", "14", kw)]
    return out


def after_restart() -> list[tuple[str, str, bytes]]:
    """The stress event, Manchester's accepted move, then the event's readings."""
    return [
        (BECKN_CALLBACKS.name, CAMBRIDGE_TXN, encode(stress_update())),
        (BECKN_CALLBACKS.name, MANCHESTER_TXN, encode(receiving_answer(accepted=True))),
        *[(READINGS.name, CAMBRIDGE, v) for v in readings(CAMBRIDGE, EVENT_DAY, "14", "16", 750)],
        *[(READINGS.name, MANCHESTER, v)
          for v in readings(MANCHESTER, EVENT_DAY, "14", "16", 1100)],
    ]


async def send(bootstrap: str, prefix: str, records: list[tuple[str, str, bytes]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await p.start()
    try:
        futs = [await p.send(prefix + topic, value, key=key.encode())
                for topic, key, value in records]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


def uninterrupted(config: handlers.ValidatorConfig) -> FlexibilityVerified:
    """The pure handlers fed every record in order, in one go."""
    st = handlers.ValidatorState(config)
    outs: list[Any] = []
    for _, _, raw in before_restart() + after_restart():
        d = decode(raw)
        outs += handlers.HANDLERS[d.kind](st, inbound(d.value))
    (out,) = outs
    return out.value.payload


async def test_a_restarted_validator_verifies_against_history_it_rebuilt_from_kafka(
        kafka_bootstrap: str) -> None:
    prefix = f"mv.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    settings = MeteringValidatorSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
                                         programmes={"UK-EAST": {"method": "dfs"}})
    first = before_restart()
    ok = ("metering.reading.recorded", "ok")

    runner = bootstrap(settings)
    task = await start(runner)
    try:
        await send(kafka_bootstrap, prefix, first)
        done = runner.metrics.consumed.labels(prefix + READINGS.name, *ok)
        await wait_for(lambda: done._value.get() == len(first), timeout_s=60)
    finally:
        await stop(runner, task)
    assert len(runner.state.meters[CAMBRIDGE].periods) == 10 * 48 + 28

    # a fresh process: nothing in memory, the history comes back from the readings topic
    runner2 = bootstrap(settings)
    task2 = await start(runner2, timeout_s=60)
    try:
        replayed = runner2.metrics.replayed.labels(prefix + READINGS.name)
        assert replayed._value.get() == len(first)
        # The grid's answers precede the event's readings by hours in a real day; records on
        # two topics have no order between them, so the test keeps the day's order explicit.
        # (A receiving acceptance read after the stressed site is metered past the event's end
        # is not netted off: docs/metering.md, limits.)
        answers, event_readings = after_restart()[:2], after_restart()[2:]
        await send(kafka_bootstrap, prefix, answers)
        updates = runner2.metrics.consumed.labels(prefix + BECKN_CALLBACKS.name,
                                                  "beckn.on_update", "ok")
        await wait_for(lambda: updates._value.get() == len(answers), timeout_s=60)
        await send(kafka_bootstrap, prefix, event_readings)
        recs = await poll_until(kafka_bootstrap, prefix + VERIFICATIONS.name,
                                lambda rs: len(rs) >= 1, timeout_s=60)
    finally:
        await stop(runner2, task2)

    (rec,) = recs
    got = decode(rec.value).value.payload
    assert isinstance(got, FlexibilityVerified)
    assert got == uninterrupted(settings.validator_config())
    assert (got.baseline_method, got.baseline_days) == ("dfs", tuple(HISTORY))
    assert (got.delivered_kwh, got.verdict) == (900, Verdict.DELIVERED)  # (1200 - 750) x 2 h
    assert [(d.site_id, d.increase_kwh) for d in got.receiving] == [(MANCHESTER, 600)]
    assert got.net_system_kwh == 300
