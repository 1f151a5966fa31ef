"""Measurement and verification against the nominated (confirmed-order) baseline."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, OrderStatus
from contracts.events import FlexibilityVerified, Verdict
from contracts.topics import VERIFICATIONS
from services.metering_validator.baselines import Baseline, Programme, nominated_baseline
from services.metering_validator.domain import measure, nominated_kw, verdict
from services.metering_validator.handlers import (
    ValidatorState,
    on_grid_update,
    on_order_confirmed,
    on_reading,
)
from services.metering_validator.periods import Meter, periods_within

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    STRESS_ID,
    at,
    beckn,
    cambridge_order,
    env,
    inbound,
    line,
    manchester_order,
    reading,
    receiving_answer,
    stress_update,
)

LINES = [line(CAMBRIDGE, "10:00", "14:00"), line(CAMBRIDGE, "14:00", "16:00"),
         line(MANCHESTER, "14:00", "18:00", job_ids=("batch-b",))]


def _meter(*readings: tuple[str, str, float]) -> Meter:
    m = Meter(30)
    for start, end, kwh in readings:
        m.add(at(start), at(end), kwh)
    return m


def _nominated(site: str) -> Baseline:
    periods = periods_within(at("14:00"), at("16:00"))
    return nominated_baseline(Meter(30), periods, lambda t: nominated_kw(LINES, site, t),
                              Programme())


# ---- domain ------------------------------------------------------------------------------------


def test_the_nominated_load_is_the_sites_lines_in_force_half_open() -> None:
    assert nominated_kw(LINES, CAMBRIDGE, at("13:59")) == 1200
    assert nominated_kw(LINES, CAMBRIDGE, at("16:00")) == 0  # the 14-16 slot has ended
    assert nominated_kw(LINES, MANCHESTER, at("13:59")) == 0
    assert nominated_kw(LINES, MANCHESTER, at("14:00")) == 1200


def test_the_seed_event_measures_450_kw_delivered_at_cambridge() -> None:
    meter = _meter(("14:00", "15:00", 750), ("15:00", "16:00", 750))

    m = measure(meter, periods_within(at("14:00"), at("16:00")), _nominated(CAMBRIDGE))

    assert (m.baseline_kw, m.metered_kw) == (1200, 750)
    assert m.delivered_kwh == 900  # (1200 - 750) kW x 2 h
    assert [i.delivered_kwh for i in m.intervals] == [225] * 4  # 600 - 375 kWh per half hour
    assert m.missing == 0


def test_readings_are_spread_over_periods_pro_rata_and_outside_ones_ignored() -> None:
    meter = _meter(
        ("13:30", "14:00", 600),  # before the event
        ("14:00", "14:30", 300),  # 600 kW for 30 min
        ("14:30", "16:00", 1350),  # 900 kW for 90 min: 450 kWh in each of three periods
        ("16:00", "16:15", 999),  # after
    )

    m = measure(meter, periods_within(at("14:00"), at("16:00")), _nominated(CAMBRIDGE))

    assert [i.metered_kwh for i in m.intervals] == [300, 450, 450, 450]
    assert m.metered_kw == pytest.approx(825)  # (300 + 1350 kWh) / 2 h
    assert m.delivered_kwh == pytest.approx(750)  # 2400 - 1650 kWh


def test_missing_readings_credit_nothing_and_are_counted() -> None:
    meter = _meter(("14:00", "14:30", 375), ("15:00", "16:00", 750))  # 14:30-15:00 missing

    m = measure(meter, periods_within(at("14:00"), at("16:00")), _nominated(CAMBRIDGE))

    assert m.missing == 1
    assert [i.metered_kwh for i in m.intervals] == [375, None, 375, 375]
    assert m.delivered_kwh == 675  # 3 x (600 - 375); the missing half hour credits 0
    assert m.metered_kw == 750  # over the 1.5 metered hours


@pytest.mark.parametrize(("delivered", "requested", "pct", "expected"), [
    (450, 450, 100.0, Verdict.DELIVERED),
    (500, 450, 111.111, Verdict.DELIVERED),
    (427.5, 450, 95.0, Verdict.DELIVERED),  # exactly 95 %
    (427.4, 450, 94.978, Verdict.PARTIAL),  # 427.4 / 450
    (0.1, 450, 0.022, Verdict.PARTIAL),
    (0, 450, 0.0, Verdict.FAILED),
    (-50, 450, -11.111, Verdict.FAILED),  # load went up
    (0, 0, 100.0, Verdict.DELIVERED),  # nothing asked, nothing owed
])
def test_the_verdict_thresholds(delivered: float, requested: float, pct: float,
                                expected: Verdict) -> None:
    got_pct, got = verdict(delivered, requested)

    assert got == expected
    assert got_pct == pytest.approx(pct, abs=1e-3)


# ---- handlers ----------------------------------------------------------------------------------


@pytest.fixture
def validator() -> ValidatorState:
    st = ValidatorState()
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                       (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, order)))
    on_grid_update(st, inbound(stress_update()))
    return st


def _read(st: ValidatorState, site_id: str, start: str, end: str, load: float,
          batt: float = 0.0) -> list[FlexibilityVerified]:
    outs: Any = on_reading(st, inbound(env(reading(site_id, start, end, load, batt))))
    assert all(o.topic == VERIFICATIONS for o in outs)
    return [o.value.payload for o in outs]


def test_the_event_is_verified_once_the_stressed_site_is_metered_past_its_end(
        validator: ValidatorState) -> None:
    assert _read(validator, CAMBRIDGE, "14:00", "15:00", 900, 150) == []

    (v,) = _read(validator, CAMBRIDGE, "15:00", "16:00", 900, 150)

    assert (v.event_id, v.site_id, v.order_id, v.transaction_id) == (
        STRESS_ID, CAMBRIDGE, "order-cambridge-east-20251117", CAMBRIDGE_TXN)
    assert (v.start, v.end, v.requested_kw) == (at("14:00"), at("16:00"), 450)
    assert (v.baseline_kw, v.metered_kw) == (1200, 750)  # nominated vs 900 load - 150 battery
    assert v.delivered_kw == 450  # 1200 - 750
    assert v.delivered_kwh == 900  # 450 kW x 2 h
    assert v.delivered_pct == 100  # 450 / 450
    assert v.verdict == Verdict.DELIVERED
    assert v.receiving == ()
    assert v.net_system_kw == 450  # no receiving site known


def test_an_accepted_receiving_site_is_waited_for_and_netted_off(
        validator: ValidatorState) -> None:
    on_grid_update(validator, inbound(receiving_answer(accepted=True)))
    for h, e in (("14:00", "15:00"), ("15:00", "16:00")):
        _read(validator, CAMBRIDGE, h, e, 900, 150)
    assert _read(validator, MANCHESTER, "14:00", "15:00", 1500) == []  # Manchester not done

    (v,) = _read(validator, MANCHESTER, "15:00", "16:00", 1500)

    (m,) = v.receiving
    assert (m.site_id, m.baseline_kw, m.metered_kw) == (MANCHESTER, 1200, 1500)
    assert v.net_system_kw == 150  # 450 delivered - (1500 - 1200) increase at Manchester


def test_a_refused_receiving_update_is_not_counted(validator: ValidatorState) -> None:
    on_grid_update(validator, inbound(receiving_answer(accepted=False)))

    # verified as soon as Cambridge is metered: Manchester is not waited for
    (v,) = _read(validator, CAMBRIDGE, "14:00", "16:00", 1800, 300)

    assert v.receiving == ()
    assert v.net_system_kw == 450  # 1200 - (1800 - 300 kWh) / 2 h, nothing netted off


def test_a_partial_response(validator: ValidatorState) -> None:
    (v,) = _read(validator, CAMBRIDGE, "14:00", "16:00", 2100, 0)  # 1050 kW average

    assert v.delivered_kw == 150  # 1200 - 1050
    assert v.delivered_pct == pytest.approx(33.333)  # 150 / 450
    assert v.verdict == Verdict.PARTIAL


def test_no_response_fails(validator: ValidatorState) -> None:
    (v,) = _read(validator, CAMBRIDGE, "14:00", "16:00", 2400, 0)  # 1200 kW: the baseline

    assert (v.delivered_kw, v.delivered_pct, v.verdict) == (0, 0, Verdict.FAILED)


def test_an_event_is_verified_once(validator: ValidatorState) -> None:
    _read(validator, CAMBRIDGE, "14:00", "16:00", 1500, 300)

    assert _read(validator, CAMBRIDGE, "16:00", "17:00", 0) == []


def test_readings_at_other_sites_leave_the_event_waiting_for_its_own(
        validator: ValidatorState) -> None:
    # Manchester is not part of the event (no accepted receiving update): its readings past
    # 16:00 neither verify the Cambridge event nor are checked against it
    assert _read(validator, MANCHESTER, "14:00", "17:00", 3600) == []
    assert MANCHESTER not in validator.waiting

    (v,) = _read(validator, CAMBRIDGE, "14:00", "16:00", 1500, 300)

    assert v.delivered_kw == 600  # 1200 - (1500 - 300 kWh) / 2 h
    assert validator.waiting == {CAMBRIDGE: set()}  # nothing left to wait for


def test_a_stress_update_arriving_after_its_readings_is_verified_at_once() -> None:
    st = ValidatorState()
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                                         cambridge_order(OrderStatus.CONFIRMED, confirmed=True))))
    assert _read(st, CAMBRIDGE, "14:00", "16:00", 1500, 300) == []  # no event known yet

    outs: Any = on_grid_update(st, inbound(stress_update()))

    (v,) = [o.value.payload for o in outs]
    assert (v.event_id, v.delivered_kw) == (STRESS_ID, 600)  # 1200 - (1500 - 300 kWh) / 2 h


def test_unconfirmed_orders_nominate_nothing() -> None:
    st = ValidatorState()
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                                         cambridge_order(OrderStatus.REJECTED))))

    assert st.all_lines() == []
