"""Measurement and verification against the nominated (confirmed-order) baseline."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, OrderStatus
from contracts.events import FlexibilityVerified, Verdict
from contracts.topics import VERIFICATIONS
from services.metering_validator.domain import Metered, measure, nominated_kw, verdict
from services.metering_validator.handlers import (
    ValidatorState,
    on_grid_update,
    on_order_confirmed,
    on_reading,
)

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


def _metered(start: str, end: str, kwh: float) -> Metered:
    return Metered(at(start), at(end), kwh)


# ---- domain ------------------------------------------------------------------------------------


def test_the_nominated_load_is_the_sites_lines_in_force_half_open() -> None:
    assert nominated_kw(LINES, CAMBRIDGE, at("13:59")) == 1200
    assert nominated_kw(LINES, CAMBRIDGE, at("16:00")) == 0  # the 14-16 slot has ended
    assert nominated_kw(LINES, MANCHESTER, at("13:59")) == 0
    assert nominated_kw(LINES, MANCHESTER, at("14:00")) == 1200


def test_the_seed_event_measures_450_kw_delivered_at_cambridge() -> None:
    readings = {at(h): _metered(h, e, 750) for h, e in (("14:00", "15:00"), ("15:00", "16:00"))}

    m = measure(LINES, CAMBRIDGE, readings, at("14:00"), at("16:00"))

    assert (m.baseline_kw, m.metered_kw) == (1200, 750)
    assert m.delivered_kwh == 900  # (1200 - 750) kW x 2 h
    assert m.intervals == 2


def test_measure_weights_by_time_and_ignores_readings_outside_the_span() -> None:
    readings = {
        at("13:30"): _metered("13:30", "14:00", 600),  # before the event
        at("14:00"): _metered("14:00", "14:30", 300),  # 600 kW for 30 min
        at("14:30"): _metered("14:30", "16:00", 1350),  # 900 kW for 90 min
        at("15:45"): _metered("15:45", "16:15", 999),  # runs past the end
    }

    m = measure(LINES, CAMBRIDGE, readings, at("14:00"), at("16:00"))

    assert m.intervals == 2
    assert m.metered_kw == pytest.approx(825)  # (300 + 1350 kWh) / 2 h
    assert m.delivered_kwh == pytest.approx(750)  # 2400 - 1650 kWh


def test_measure_without_readings_is_empty() -> None:
    m = measure(LINES, CAMBRIDGE, {}, at("14:00"), at("16:00"))

    assert (m.baseline_kw, m.metered_kw, m.delivered_kwh, m.intervals) == (0, 0, 0, 0)


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


def test_unconfirmed_orders_nominate_nothing() -> None:
    st = ValidatorState()
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                                         cambridge_order(OrderStatus.REJECTED))))

    assert st.all_lines() == []
