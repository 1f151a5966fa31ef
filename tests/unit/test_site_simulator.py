"""The site simulator: facility load from plans and commands, battery limits, meter readings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.events import (
    ClockAdvanced,
    CommandAction,
    MeterDayClosed,
    MeterReadingRecorded,
    SiteCommandIssued,
)
from contracts.topics import READINGS
from services.common.ids import stable_id
from services.site_simulator.domain import (
    battery_setpoint_kw,
    facility_load_kw,
    simulate_interval,
)
from services.site_simulator.handlers import (
    SiteSimState,
    on_clock_advanced,
    on_command_issued,
    on_placement_scheduled,
    on_site_registered,
)

from .factories import (
    CAMBRIDGE,
    MANCHESTER,
    STRESS_ID,
    at,
    battery,
    cambridge_site,
    env,
    inbound,
    manchester_site,
    seed_placements,
    tick,
)

MINUTE = 1 / 60


def _command(action: CommandAction, site_id: str, kw: float, start: str, end: str,
             part: str | None = None) -> SiteCommandIssued:
    return SiteCommandIssued(
        command_id=stable_id("cmd", action.value, site_id, start), site_id=site_id,
        action=action, power_kw=kw, start=at(start), end=at(end),
        job_id="batch-a" if part else None, part_id=part, event_id=STRESS_ID, reason="test")


def seed_commands() -> list[SiteCommandIssued]:
    """What the load-shifter sends at the seed day's 14:00 stress event."""
    return [
        _command(CommandAction.PAUSE_JOB, CAMBRIDGE, 300, "14:00", "16:00", "sweep"),
        _command(CommandAction.START_JOB, MANCHESTER, 300, "14:00", "16:00", "sweep"),
        _command(CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150, "14:00", "16:00"),
        _command(CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200, "22:00", "23:40"),
    ]


# ---- domain ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("site_id", "hhmm", "kw"), [
    (CAMBRIDGE, "13:59", 1200),  # core 900 + sweep 300
    (CAMBRIDGE, "14:00", 900),  # sweep paused
    (CAMBRIDGE, "15:59", 900),
    (CAMBRIDGE, "16:00", 0),  # batch-a's run ends at 16:00
    (MANCHESTER, "13:59", 0),
    (MANCHESTER, "14:00", 1500),  # batch-b 1200 + the sweep 300
    (MANCHESTER, "16:00", 1200),
    (MANCHESTER, "18:00", 0),
])
def test_facility_load_follows_the_plan_and_the_commands(site_id: str, hhmm: str,
                                                         kw: float) -> None:
    assert facility_load_kw(site_id, at(hhmm), seed_placements(), seed_commands()) == kw


def test_facility_load_never_goes_negative() -> None:
    over = [_command(CommandAction.PAUSE_JOB, CAMBRIDGE, 5000, "14:00", "16:00", "sweep")]

    assert facility_load_kw(CAMBRIDGE, at("14:00"), seed_placements(), over) == 0


@pytest.mark.parametrize(("hhmm", "kw"), [
    ("13:59", 0), ("14:00", 150), ("15:59", 150), ("16:00", 0),
    ("22:00", -200), ("23:39", -200), ("23:40", 0),
])
def test_the_battery_setpoint_discharges_positive_and_charges_negative(hhmm: str,
                                                                       kw: float) -> None:
    assert battery_setpoint_kw(CAMBRIDGE, at(hhmm), seed_commands()) == kw


def test_a_discharging_minute_reduces_grid_import() -> None:
    iv = simulate_interval(900, 150, battery(), 360, MINUTE)

    assert iv.load_kwh == pytest.approx(15)  # 900 kW x 1 min
    assert iv.battery_discharge_kwh == pytest.approx(2.5)  # 150 kW x 1 min
    assert iv.import_kwh == pytest.approx(12.5)  # 750 kW x 1 min
    assert iv.soc_kwh == pytest.approx(357.5)


def test_discharge_is_clipped_to_the_battery_power() -> None:
    iv = simulate_interval(900, 500, battery(), 360, 1.0)

    assert iv.battery_discharge_kwh == 200  # 200 kW x 1 h, not 500
    assert iv.soc_kwh == 160


def test_discharge_stops_at_the_reserve() -> None:
    iv = simulate_interval(900, 150, battery(), 41, 1.0)

    assert iv.battery_discharge_kwh == pytest.approx(1)  # only 41 - 40 kWh reserve
    assert iv.soc_kwh == pytest.approx(40)
    assert iv.import_kwh == pytest.approx(899)


def test_charging_loses_the_round_trip_on_the_way_in() -> None:
    iv = simulate_interval(0, -200, battery(), 60, 1.0)

    assert iv.battery_discharge_kwh == -200  # drawn from the grid
    assert iv.import_kwh == 200
    assert iv.soc_kwh == pytest.approx(240)  # 60 + 200 x 0.9


def test_charging_stops_at_the_battery_capacity() -> None:
    iv = simulate_interval(0, -200, battery(), 390, 1.0)

    assert iv.battery_discharge_kwh == pytest.approx(-10 / 0.9)  # 10 kWh room / 0.9 = 11.11
    assert iv.soc_kwh == pytest.approx(400)


def test_the_seed_recharge_restores_exactly_what_was_discharged() -> None:
    soc = 60.0  # 360 - 150 kW x 2 h
    drawn = 0.0
    for _ in range(100):  # 22:00-23:40 in minutes
        iv = simulate_interval(0, -200, battery(), soc, MINUTE)
        soc, drawn = iv.soc_kwh, drawn - iv.battery_discharge_kwh

    assert drawn == pytest.approx(333.333333)  # 200 kW x 100 min
    assert soc == pytest.approx(360)  # 60 + 333.33 x 0.9 = 60 + 300


def test_without_a_battery_or_a_setpoint_import_is_the_load() -> None:
    for iv in (simulate_interval(600, 150, None, 0, 1.0),
               simulate_interval(600, 0, battery(), 360, 1.0)):
        assert (iv.load_kwh, iv.battery_discharge_kwh, iv.import_kwh) == (600, 0, 600)
    assert simulate_interval(600, 0, battery(), 360, 1.0).soc_kwh == 360


# ---- handlers ----------------------------------------------------------------------------------


@pytest.fixture
def sim() -> SiteSimState:
    st = SiteSimState(resolution=timedelta(hours=1))
    for s in (cambridge_site(), manchester_site()):
        on_site_registered(st, inbound(env(s)))
    for p in seed_placements():
        on_placement_scheduled(st, inbound(env(p)))
    for c in seed_commands():
        on_command_issued(st, inbound(env(c)))
    return st


def _readings(outs: Any, site_id: str) -> dict[str, MeterReadingRecorded]:
    return {f"{o.value.payload.start:%H:%M}": o.value.payload for o in outs
            if o.topic == READINGS and isinstance(o.value.payload, MeterReadingRecorded)
            and o.key == site_id}


def test_every_site_is_metered_up_to_now(sim: SiteSimState) -> None:
    outs = on_clock_advanced(sim, inbound(tick("16:00")))

    cambridge, manchester = _readings(outs, CAMBRIDGE), _readings(outs, MANCHESTER)
    assert len(cambridge) == len(manchester) == 16  # 00:00-16:00 in hours
    r = cambridge["14:00"]
    assert (r.load_kwh, r.battery_discharge_kwh, r.import_kwh) == (900, 150, 750)
    assert cambridge["10:00"].import_kwh == 1200
    assert manchester["15:00"].import_kwh == 1500  # 1200 + 300 moved in
    assert sim.soc_kwh[CAMBRIDGE] == pytest.approx(60)  # 360 - 2 x 150 kWh


def test_a_reading_carries_event_time_and_a_stable_id(sim: SiteSimState) -> None:
    (first, _) = on_clock_advanced(sim, inbound(tick("01:00")))

    assert first.value.id == stable_id("reading", CAMBRIDGE, at("00:00").isoformat())
    assert first.value.time == at("01:00")  # the interval's end


def test_no_partial_interval_is_metered(sim: SiteSimState) -> None:
    assert on_clock_advanced(sim, inbound(tick("00:30"))) == []
    assert len(on_clock_advanced(sim, inbound(tick("01:00")))) == 2  # one hour, two sites


def test_the_day_is_closed_once_at_its_end(sim: SiteSimState) -> None:
    on_clock_advanced(sim, inbound(tick("16:00")))

    outs = on_clock_advanced(sim, inbound(tick("24:00")))
    late = env(ClockAdvanced(now=at("24:00") + timedelta(hours=3), day_start=at("00:00"),
                             day_end=at("24:00")))

    closed = [o.value.payload for o in outs if isinstance(o.value.payload, MeterDayClosed)]
    assert [(c.site_id, c.readings) for c in closed] == [(CAMBRIDGE, 24), (MANCHESTER, 24)]
    assert on_clock_advanced(sim, inbound(late)) == []  # never metered past the day's end


def test_the_evening_recharge_is_metered_as_import(sim: SiteSimState) -> None:
    sim.resolution = timedelta(minutes=20)  # divides the 1 h 40 min recharge exactly
    outs = on_clock_advanced(sim, inbound(tick("24:00")))

    evening = [r for t, r in _readings(outs, CAMBRIDGE).items() if t >= "22:00"]
    assert sum(r.import_kwh for r in evening) == pytest.approx(333.333333)  # 200 kW x 100 min
    assert sim.soc_kwh[CAMBRIDGE] == pytest.approx(360)  # 60 + 333.33 x 0.9


def test_readings_report_the_batterys_state_of_charge(sim: SiteSimState) -> None:
    sim.resolution = timedelta(minutes=20)
    outs = on_clock_advanced(sim, inbound(tick("24:00")))

    cambridge = _readings(outs, CAMBRIDGE)
    # 400 kWh battery at 90 %; 150 kW out over 14:00-16:00 (300 kWh): 60 kWh = 15 % at 16:00
    assert cambridge["00:00"].battery_soc_pct == pytest.approx(90)
    assert cambridge["14:00"].battery_soc_pct == pytest.approx(90 - 50 / 4)  # 50 kWh by 14:20
    assert cambridge["15:40"].battery_soc_pct == pytest.approx(15)
    assert cambridge["21:40"].battery_soc_pct == pytest.approx(15)
    # 200 kW drawn from 22:00, stored x 0.9: 60 kWh / 20 min -> 15 % per interval, full at 23:40
    assert cambridge["22:00"].battery_soc_pct == pytest.approx(30)
    assert cambridge["23:20"].battery_soc_pct == pytest.approx(90)
    assert all(r.battery_soc_pct is None for r in _readings(outs, MANCHESTER).values())
