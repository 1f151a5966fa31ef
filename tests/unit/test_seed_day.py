"""The seed day through all seven services' handlers in one process: no broker, no sockets.

Each record crosses the real encode/decode edge and goes to every service the topic catalogue
names as its consumer, deduplicated per service, in publication order. Ticks are published one
at a time and their consequences drained before the next, as the replay driver's barrier does.
The figures asserted are the seed day's hand-worked ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from contracts.beckn.models import BecknMessage
from contracts.events import (
    ClockAdvanced,
    CommandAction,
    FlexibilityVerified,
    ResponseDispatched,
    SettlementStatementIssued,
    SiteCommandIssued,
    Verdict,
)
from contracts.topics import CLOCK, JOBS, SITES, Topic
from services.audit import handlers as audit
from services.audit.domain import Chain
from services.common.beckn import Parties
from services.common.codec import decode, encode, envelope
from services.common.ids import stable_id
from services.common.runner import Dedupe, Inbound
from services.grid_signal import handlers as grid_signal
from services.load_shifter import handlers as load_shifter
from services.metering_validator import handlers as metering_validator
from services.planner import handlers as planner
from services.replay.domain import jobs_of, sites_of, tick_times
from services.settlement import handlers as settlement
from services.site_simulator import handlers as site_simulator

from .factories import CAMBRIDGE, MANCHESTER, STRESS_ID, at, seed


@dataclass
class Bus:
    services: Mapping[str, tuple[Any, Mapping[str, Callable[[Any, Inbound], Sequence[Any]]]]]
    log: list[tuple[Topic, Any]] = field(default_factory=list)
    queue: deque[tuple[Topic, str, Any]] = field(default_factory=deque)
    seen: dict[str, Dedupe] = field(default_factory=dict)

    def publish(self, topic: Topic, key: str, value: Any) -> None:
        self.queue.append((topic, key, value))
        self.drain()

    def drain(self) -> None:
        while self.queue:
            topic, key, value = self.queue.popleft()
            self.log.append((topic, value))
            d = decode(encode(value))
            for name in topic.consumers:
                state, handlers = self.services[name]
                if not self.seen.setdefault(name, Dedupe()).first_time(d.message_id):
                    continue
                m = Inbound(topic.name, 0, len(self.log), key.encode(), d.kind, d.message_id,
                            d.value, 0)
                for out in handlers[d.kind](state, m):
                    self.queue.append((out.topic, out.key, out.value))

    def payloads(self, cls: type) -> list[Any]:
        return [v.payload for _, v in self.log
                if not isinstance(v, BecknMessage) and isinstance(v.payload, cls)]


@pytest.fixture(scope="module")
def day() -> Bus:
    sc = seed()
    bap, bpp = sc.participants.bap, sc.participants.bpp
    bus = Bus({
        "grid-signal": (grid_signal.GridState.from_scenario(sc), grid_signal.HANDLERS),
        "planner": (planner.PlannerState(Parties(bap.id, bap.uri, bpp.id, bpp.uri),
                                         bap.buyer_id or bap.id, bap.name, 0.0),
                    planner.HANDLERS),
        "load-shifter": (load_shifter.ShifterState(), load_shifter.HANDLERS),
        "metering-validator": (metering_validator.ValidatorState(), metering_validator.HANDLERS),
        "settlement": (settlement.SettlementState(), settlement.HANDLERS),
        "site-simulator": (site_simulator.SiteSimState(timedelta(minutes=1)),
                           site_simulator.HANDLERS),
        "audit": (audit.AuditState.recovered({"test": "seed day"}, Chain()), audit.HANDLERS),
    })
    for s in sites_of(sc):
        bus.publish(SITES, s.site_id, envelope(s, id=stable_id("site", s.site_id),
                                               time=sc.day_start, source="replay"))
    for t in tick_times(sc):
        if t == sc.at(sc.discovery_at):
            for j in jobs_of(sc):
                bus.publish(JOBS, j.job_id, envelope(j, id=stable_id("job", j.job_id), time=t,
                                                     source="replay"))
        tick = ClockAdvanced(now=t, day_start=sc.day_start, day_end=sc.day_end)
        bus.publish(CLOCK, "day", envelope(tick, id=stable_id("tick", t.isoformat()), time=t,
                                           source="replay"))
    return bus


def test_the_load_shifter_answers_the_stress_with_move_battery_and_recharge(day: Bus) -> None:
    cmds: list[SiteCommandIssued] = day.payloads(SiteCommandIssued)

    assert [(c.action, c.site_id, c.power_kw, f"{c.start:%H:%M}", f"{c.end:%H:%M}")
            for c in cmds] == [
        (CommandAction.PAUSE_JOB, CAMBRIDGE, 300, "14:00", "16:00"),
        (CommandAction.START_JOB, MANCHESTER, 300, "14:00", "16:00"),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150, "14:00", "16:00"),  # 450 - 300
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200, "22:00", "23:40"),  # 333.33 kWh
    ]
    (r,) = day.payloads(ResponseDispatched)
    assert (r.shifted_kw, r.battery_kw, r.shortfall_kw) == (300, 150, 0)


def test_the_validator_measures_the_response(day: Bus) -> None:
    (v,) = day.payloads(FlexibilityVerified)

    assert (v.event_id, v.site_id, v.start, v.end) == (STRESS_ID, CAMBRIDGE, at("14:00"),
                                                       at("16:00"))
    assert (v.baseline_kw, v.metered_kw) == (1200, 750)  # 900 load - 150 battery
    assert (v.delivered_kw, v.delivered_kwh, v.delivered_pct) == (450, 900, 100)
    assert v.verdict == Verdict.DELIVERED
    assert [(d.site_id, d.baseline_kw, d.metered_kw) for d in v.receiving] == [
        (MANCHESTER, 1200, 1500)]
    assert v.net_system_kw == 150  # 450 - 300


def test_the_day_settles_to_the_hand_worked_figures(day: Bus) -> None:
    (st,) = day.payloads(SettlementStatementIssued)

    assert st.baseline_cost_gbp == pytest.approx(1248.00)
    assert st.actual_cost_gbp == pytest.approx(1207.733333)
    assert st.baseline_carbon_kg == pytest.approx(734.4)
    assert st.actual_carbon_kg == pytest.approx(669.8)
    assert st.flex_payment_gbp == pytest.approx(135)
    cambridge, manchester = st.sites
    assert cambridge.cost_gbp == pytest.approx(710.933333)  # 489.60 + 198.00 + 23.3333
    assert (cambridge.load_kw_after_event, cambridge.import_kw_after_event) == (900, 750)
    assert manchester.energy_kwh == pytest.approx(5400)
    assert cambridge.missing_readings == manchester.missing_readings == 0  # 1440 each


def test_every_order_reaches_completion(day: Bus) -> None:
    statuses = [(v.context.action.value, v.message.order.status.value) for _, v in day.log
                if isinstance(v, BecknMessage) and v.context.action.value == "on_status"]

    assert statuses == [("on_status", "COMPLETED"), ("on_status", "COMPLETED")]
    assert not any(isinstance(v, BecknMessage) and v.error is not None for _, v in day.log)


def test_the_planner_replans_after_the_stress_and_keeps_the_whole_day(day: Bus) -> None:
    """At the 14:30 tick (the first after the stress event and the load-shifter's move) the
    planner re-plans 14:30-18:00 from the state then: batch-a's core has run 4.5 h at Cambridge
    (1350 kWh left, its block carrying on), the sweep 4 h at Cambridge and 0.5 h at Manchester
    (450 kWh left, at Manchester), batch-b 0.5 h at Manchester (4200 kWh left). Every
    commitment is still possible (Manchester 1200 + 300 = 1500 kW = its capacity and the
    window's), so all 3 + 3 + 7 half-hours are kept and nothing new is ordered."""
    st = day.services["planner"][0]
    ((when, result),) = st.replans
    assert when == at("14:30")
    assert (result.kept, result.dropped, result.runs, result.unmet_kwh) == (13, (), (), {})
    selects = [v for _, v in day.log
               if isinstance(v, BecknMessage) and v.context.action.value == "select"]
    assert len(selects) == 2  # the morning's two orders only
