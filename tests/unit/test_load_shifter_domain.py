"""The load-shifter's policy for one stress event: migrate, pause, battery, then shortfall."""

from __future__ import annotations

import pytest

from contracts.events import CommandAction, PlacementScheduled
from services.load_shifter.domain import Action, headroom, plan_response, site_load

from .factories import (
    CAMBRIDGE,
    MANCHESTER,
    STRESS_ID,
    at,
    battery,
    placement,
    seed_placements,
)

SOC_90 = 360.0  # 90 % of 400 kWh


def _plan(requested_kw: float = 450, placements: list[PlacementScheduled] | None = None, *,
          soc_kwh: float = SOC_90, start: str = "14:00", end: str = "16:00",
          with_battery: bool = True, **batt: object):
    return plan_response(CAMBRIDGE, requested_kw, at(start), at(end),
                         seed_placements() if placements is None else placements,
                         battery(**batt) if with_battery else None, soc_kwh, STRESS_ID)


def _kinds(actions: tuple[Action, ...]) -> list[tuple[CommandAction, str, float]]:
    return [(a.action, a.site_id, a.power_kw) for a in actions]


def _full_manchester() -> list[PlacementScheduled]:
    """The seed plan, but Manchester's confirmed order has no headroom (1200 kW of 1200)."""
    *cambridge, _ = seed_placements()
    return [*cambridge, placement("batch-b", "main", MANCHESTER, "14:00", "18:00", 1200,
                                  order_capacity_kw=1200)]


def test_the_seed_event_moves_the_sweep_and_covers_the_rest_from_the_battery() -> None:
    r = _plan()

    assert r.requested_kw == 450
    assert r.shifted_kw == 300  # batch-a/sweep to Manchester, whose headroom is 1500 - 1200
    assert r.shifted_to == (MANCHESTER,)
    assert r.paused_kw == 0
    # 450 - 300 = 150 kW needed; cap min(200 kW, (360 - 40 kWh) / 2 h = 160 kW) is not binding
    assert r.battery_kw == pytest.approx(150)
    assert r.shortfall_kw == 0
    assert r.receiving_load_kw == {MANCHESTER: 1500}  # 1200 + 300
    assert _kinds(r.actions) == [
        (CommandAction.PAUSE_JOB, CAMBRIDGE, 300), (CommandAction.START_JOB, MANCHESTER, 300),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150),
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200)]


def test_the_moved_part_runs_at_its_destination_until_its_own_end() -> None:
    pause, start, discharge, _ = _plan().actions

    for a in (pause, start):
        assert (a.job_id, a.part_id, a.start, a.end) == ("batch-a", "sweep", at("14:00"),
                                                         at("16:00"))
    assert (discharge.start, discharge.end) == (at("14:00"), at("16:00"))


def test_the_battery_recharges_from_its_recharge_time_until_its_energy_is_back() -> None:
    *_, charge = _plan().actions

    assert charge.action == CommandAction.BATTERY_CHARGE
    assert charge.power_kw == 200  # full power
    assert charge.start == at("22:00")
    # 150 kW x 2 h / 0.9 round trip = 333.33 kWh from the grid, / 200 kW = 1 h 40 min
    assert charge.end == at("23:40")


def test_critical_parts_are_never_touched() -> None:
    r = _plan(requested_kw=1200)  # more than all the non-critical load there is

    assert all(a.part_id != "core" for a in r.actions)
    # 300 shifted + min(900, 200 kW, 160 kW) battery = 460 of 1200: 740 kW short
    assert (r.shifted_kw, r.battery_kw, r.shortfall_kw) == (300, pytest.approx(160),
                                                            pytest.approx(740))


def test_without_receiving_headroom_the_part_is_paused_instead() -> None:
    r = _plan(placements=_full_manchester())

    assert r.shifted_kw == 0 and r.shifted_to == () and r.receiving_load_kw == {}
    assert r.paused_kw == 300
    assert r.battery_kw == pytest.approx(150)  # 450 - 300 paused
    assert r.shortfall_kw == 0
    pause = r.actions[0]
    assert (pause.action, pause.site_id, pause.part_id) == (CommandAction.PAUSE_JOB, CAMBRIDGE,
                                                            "sweep")
    assert (pause.start, pause.end) == (at("14:00"), at("16:00"))
    assert not any(a.action == CommandAction.START_JOB for a in r.actions)


def test_a_paused_part_is_paused_only_for_the_event() -> None:
    longer = [placement("batch-a", "sweep", CAMBRIDGE, "10:00", "18:00", 300)]

    (pause,) = _plan(300, longer, with_battery=False).actions

    assert (pause.start, pause.end) == (at("14:00"), at("16:00"))  # not to the part's 18:00


def test_a_shortfall_is_reported_when_nothing_covers_the_rest() -> None:
    r = _plan(placements=_full_manchester(), with_battery=False)

    assert (r.paused_kw, r.battery_kw) == (300, 0)
    assert r.shortfall_kw == 150  # 450 - 300 paused


def test_the_battery_is_limited_by_its_energy_above_the_reserve() -> None:
    r = _plan(300, [])  # nothing to move: the battery alone

    # (360 kWh - 10 % x 400 kWh) / 2 h = 160 kW < 200 kW power < 300 kW asked
    assert r.battery_kw == pytest.approx(160)
    assert r.shortfall_kw == pytest.approx(140)


def test_the_battery_is_limited_by_its_power() -> None:
    r = _plan(300, [], end="15:00")  # a one-hour event

    # energy would allow (360 - 40) / 1 h = 320 kW; power caps it at 200 kW
    assert r.battery_kw == 200
    assert r.shortfall_kw == 100


def test_a_battery_at_its_reserve_gives_nothing() -> None:
    r = _plan(300, [], soc_kwh=40)  # 10 % of 400 kWh

    assert r.battery_kw == 0
    assert r.shortfall_kw == 300
    assert r.actions == ()


def test_the_requested_reduction_met_by_moving_alone_leaves_the_battery_alone() -> None:
    r = _plan(300)

    assert (r.shifted_kw, r.battery_kw, r.shortfall_kw) == (300, 0, 0)
    assert not any(a.action in (CommandAction.BATTERY_DISCHARGE, CommandAction.BATTERY_CHARGE)
                   for a in r.actions)


def test_a_part_moves_whole_even_when_less_is_asked() -> None:
    r = _plan(100)

    assert r.shifted_kw == 300  # parts are not split
    assert r.shortfall_kw == 0


def test_larger_parts_are_moved_first() -> None:
    parts = [placement("batch-a", "core", CAMBRIDGE, "10:00", "16:00", 900, critical=True,
                       migratable=False),
             placement("batch-a", "small", CAMBRIDGE, "10:00", "16:00", 100),
             placement("batch-a", "large", CAMBRIDGE, "10:00", "16:00", 250),
             placement("batch-b", "main", MANCHESTER, "14:00", "18:00", 1000)]

    r = _plan(200, parts, with_battery=False)

    assert [(a.action, a.part_id) for a in r.actions] == [
        (CommandAction.PAUSE_JOB, "large"), (CommandAction.START_JOB, "large")]
    assert r.shifted_kw == 250


def test_a_second_part_only_moves_within_the_headroom_left() -> None:
    parts = [placement("j", "p1", CAMBRIDGE, "10:00", "16:00", 300),
             placement("j", "p2", CAMBRIDGE, "10:00", "16:00", 200),
             placement("batch-b", "main", MANCHESTER, "14:00", "18:00", 1100)]

    r = _plan(500, parts, with_battery=False)

    # headroom 1500 - 1100 = 400: p1 (300) moves, p2 (200 > 100 left) is paused
    assert (r.shifted_kw, r.paused_kw, r.shortfall_kw) == (300, 200, 0)
    assert r.receiving_load_kw == {MANCHESTER: 1400}  # 1100 + 300


def test_recharge_starts_no_earlier_than_the_event_end() -> None:
    *_, charge = _plan(recharge_from=at("12:00")).actions

    assert charge.start == at("16:00")
    assert charge.end == at("17:40")  # + 333.33 kWh / 200 kW = 1 h 40 min


def test_no_recharge_without_a_recharge_time() -> None:
    r = _plan(recharge_from=None)

    assert [a.action for a in r.actions][-1] == CommandAction.BATTERY_DISCHARGE


def test_site_load_is_the_peak_over_the_span() -> None:
    ps = [placement("a", "p", CAMBRIDGE, "10:00", "12:00", 500),
          placement("b", "p", CAMBRIDGE, "11:00", "13:00", 400),
          placement("c", "p", MANCHESTER, "10:00", "13:00", 999)]

    assert site_load(ps, CAMBRIDGE, at("10:00"), at("13:00")) == 900  # 500 + 400 from 11:00
    assert site_load(ps, CAMBRIDGE, at("12:00"), at("13:00")) == 400  # a ended at 12:00
    assert site_load(ps, CAMBRIDGE, at("13:00"), at("14:00")) == 0


def test_headroom_needs_an_order_covering_the_whole_span() -> None:
    ps = seed_placements()

    assert headroom(ps, MANCHESTER, at("14:00"), at("16:00")) == 300  # 1500 - 1200
    assert headroom(ps, MANCHESTER, at("13:00"), at("16:00")) == 0  # batch-b starts at 14:00
    assert headroom(ps, "leeds", at("14:00"), at("16:00")) == 0
