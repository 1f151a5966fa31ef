"""Malformed input on any consumed topic goes to dlq.<service> with its reason; the service
keeps running and still handles the valid record sent after the garbage."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from contracts.events import ClockAdvanced, ZoneSignalPublished
from contracts.topics import SERVICES, consumed_by, dead_letter_topic
from services.audit.bootstrap import bootstrap as audit_bootstrap
from services.audit.domain import Chain
from services.audit.settings import AuditSettings
from services.common.codec import encode, envelope
from services.grid_signal.bootstrap import bootstrap as grid_bootstrap
from services.grid_signal.settings import GridSignalSettings
from services.load_shifter.bootstrap import bootstrap as shifter_bootstrap
from services.load_shifter.settings import LoadShifterSettings
from services.metering_validator.bootstrap import bootstrap as validator_bootstrap
from services.metering_validator.settings import MeteringValidatorSettings
from services.planner.bootstrap import bootstrap as planner_bootstrap
from services.planner.settings import PlannerSettings
from services.replay.driver import create_topics
from services.settlement.bootstrap import bootstrap as settlement_bootstrap
from services.settlement.settings import SettlementSettings
from services.site_simulator.bootstrap import bootstrap as simulator_bootstrap
from services.site_simulator.settings import SiteSimulatorSettings
from tests.integration.streams import poll_until, produce, start, stop

pytestmark = pytest.mark.kafka

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "seed-cambridge-manchester.yaml"
T0 = datetime(2025, 11, 17, tzinfo=timezone.utc)

GARBAGE: list[tuple[bytes | None, str]] = [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe\x00garbage", "invalid_utf8"),
    (b"[1, 2, 3]", "not_an_object"),
    (b'{"type": "no.such.thing", "id": "x"}', "unknown_type"),
    (b'{"id":"x","type":"grid.signal.published","time":"2025-11-17T00:00:00Z",'
     b'"source":"t","payload":{"zone":"Z","renewable_pct":"lots"}}', "invalid_payload"),
    (b'{"context": {"action": "select"}, "message": {}}', "invalid_beckn"),
    (None, "empty"),
]


def build(service: str, bootstrap: str, prefix: str) -> Any:
    common: dict[str, Any] = {"bootstrap_servers": bootstrap, "topic_prefix": prefix}
    match service:
        case "grid-signal":
            return grid_bootstrap(GridSignalSettings(scenario=SCENARIO, **common))
        case "planner":
            return planner_bootstrap(PlannerSettings(**common))
        case "load-shifter":
            return shifter_bootstrap(LoadShifterSettings(**common))
        case "metering-validator":
            return validator_bootstrap(MeteringValidatorSettings(**common))
        case "settlement":
            return settlement_bootstrap(SettlementSettings(**common))
        case "site-simulator":
            return simulator_bootstrap(SiteSimulatorSettings(**common))
        case "audit":
            return audit_bootstrap(AuditSettings(**common), Chain())
    raise ValueError(service)


def a_valid_but_unexpected_record() -> bytes:
    """A well-formed event no service accepts on every topic: a clock tick is fine on the
    clock topic only, a signal on the signals topic only."""
    sig = ZoneSignalPublished(zone="UK-EAST", period_start=T0, period_end=T0.replace(minute=30),
                              renewable_pct=50, carbon_g_per_kwh=100, price_gbp_per_kwh=0.1)
    return encode(envelope(sig, id=str(uuid.uuid4()), time=T0, source="test"))


@pytest.mark.parametrize("service", SERVICES)
async def test_malformed_records_are_dead_lettered_and_service_survives(
        service: str, kafka_bootstrap: str) -> None:
    prefix = f"dlq.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    runner = build(service, kafka_bootstrap, prefix)
    task = await start(runner)
    try:
        topics = consumed_by(service)
        for t in topics:
            await produce(kafka_bootstrap, prefix + t.name, [g for g, _ in GARBAGE])
        # the signal type is wrong for every consumed topic but grid.signals.v1 (settlement)
        wrong = [t for t in topics if t.name != "grid.signals.v1"]
        for t in wrong:
            await produce(kafka_bootstrap, prefix + t.name, [a_valid_but_unexpected_record()])
        expected = len(topics) * len(GARBAGE) + len(wrong)
        dlq = await poll_until(kafka_bootstrap, prefix + dead_letter_topic(service),
                               lambda rs: len(rs) >= expected)
        assert len(dlq) == expected
        headers = [dict(r.headers) for r in dlq]
        reasons = sorted({h["dlq.reason"].decode() for h in headers})
        assert set(reasons) >= {r for _, r in GARBAGE}
        if wrong:
            assert "unexpected_type" in reasons
        for h in headers:
            assert h["dlq.source.topic"].decode().startswith(prefix)
            assert int(h["dlq.source.offset"]) >= 0
            assert h["dlq.error"]
        # the original bytes are kept
        assert {r.value for r in dlq} >= {g for g, _ in GARBAGE if g is not None}
        assert not task.done()
        if any(t.name == "sim.clock.v1" for t in topics):
            tick = ClockAdvanced(now=T0, day_start=T0, day_end=T0.replace(day=18))
            await produce(kafka_bootstrap, prefix + "sim.clock.v1",
                          [encode(envelope(tick, id="tick-0", time=T0, source="test"))])
            await poll_until(kafka_bootstrap, prefix + dead_letter_topic(service),
                             lambda rs: len(rs) == expected, 2)
            consumed = runner.metrics.consumed.labels(prefix + "sim.clock.v1",
                                                      "sim.clock.advanced", "ok")
            for _ in range(100):
                if consumed._value.get() == 1:  # noqa: SLF001
                    break
                import asyncio

                await asyncio.sleep(0.05)
            assert consumed._value.get() == 1  # noqa: SLF001
    finally:
        await stop(runner, task)
