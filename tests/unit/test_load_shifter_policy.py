"""The load-shifter's policy: least-cost actions for one stress event, worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import CommandAction, SiteCommandIssued
from services.load_shifter.domain import draw_profile, peak_draw
from services.load_shifter.policy import (
    EPS,
    BatteryState,
    Costs,
    RunningJob,
    SiteState,
    StepKind,
    StressEvent,
    decide,
)

from .factories import CAMBRIDGE, MANCHESTER, STRESS_ID, at, placement

EVENT = StressEvent(STRESS_ID, CAMBRIDGE, at("14:00"), at("16:00"), 450, 0.03)
CORE = RunningJob("batch-a", "core", 900, True, False, at("16:00"))
SWEEP = RunningJob("batch-a", "sweep", 300, False, True, at("16:00"))
BATTERY = BatteryState(200, 320)  # 90 % of 400 kWh less the 10 % reserve


def _seed(*, jobs: tuple[RunningJob, ...] = (CORE, SWEEP), battery: BatteryState | None = BATTERY,
          manchester_confirmed: float | None = 1500, manchester_stressed: bool = False,
          ) -> dict[str, SiteState]:
    return {CAMBRIDGE: SiteState(CAMBRIDGE, "UK-EAST", jobs, 1200, 1500, battery),
            MANCHESTER: SiteState(MANCHESTER, "UK-NW", (), 1200, manchester_confirmed, None,
                                  manchester_stressed)}


def _event(kw: float = 450, **kw_args: object) -> StressEvent:
    return StressEvent(STRESS_ID, CAMBRIDGE, at("14:00"), at("16:00"), kw,
                       **kw_args)  # type: ignore[arg-type]


def test_the_seed_event_moves_the_sweep_and_covers_the_rest_from_the_battery() -> None:
    d = decide(EVENT, _seed())

    assert [(s.kind, s.power_kw, s.to_site) for s in d.steps] == [
        (StepKind.MIGRATE, 300, MANCHESTER),  # headroom 1500 - 1200 = 300
        (StepKind.BATTERY, 150, None)]  # 450 - 300; cap min(200 kW, 320 kWh / 2 h = 160 kW)
    assert (d.shifted_kw, d.battery_kw, d.shortfall_kw) == (300, 150, 0)
    # 0.01 £/kWh x 300 kW x 2 h + 0.06 £/kWh x 150 kW x 2 h
    assert d.cost_gbp == pytest.approx(6 + 18)
    assert d.capacity_requests == {}


def test_moved_work_returns_when_the_event_ends() -> None:
    sweep = RunningJob("batch-a", "sweep", 300, False, True, at("18:00"))

    (move, _) = decide(EVENT, _seed(jobs=(CORE, sweep))).steps

    assert (move.start, move.end) == (at("14:00"), at("16:00"))


def test_critical_parts_are_never_touched_and_the_shortfall_is_reported() -> None:
    d = decide(_event(1200), _seed())

    assert all(s.part_id != "core" for s in d.steps)
    # 300 moved + 160 kW battery (its energy limit over 2 h); 1200 - 460 = 740 missing
    assert (d.shifted_kw, d.battery_kw, d.shortfall_kw) == (300, 160, 740)


def test_without_headroom_the_move_waits_for_the_grid_to_confirm_more_capacity() -> None:
    d = decide(EVENT, _seed(manchester_confirmed=1200))

    (wait, _batt) = d.steps
    assert (wait.kind, wait.to_site, wait.power_kw) == (StepKind.MIGRATE_AFTER_CAPACITY,
                                                        MANCHESTER, 300)
    assert "once the grid confirms 300 kW more capacity" in wait.reason
    assert d.capacity_requests == {MANCHESTER: 300}
    assert (d.awaiting_kw, d.battery_kw, d.shortfall_kw) == (300, 150, 0)


def test_a_stressed_site_never_receives_work_so_the_part_is_paused() -> None:
    d = decide(EVENT, _seed(manchester_stressed=True))

    # battery (0.06 £/kWh) before pausing (0.25): 160 kW, then the 300 kW part must go too;
    # with it paused the battery only needs to give 450 - 300 = 150
    assert [(s.kind, s.power_kw) for s in d.steps] == [(StepKind.PAUSE, 300),
                                                       (StepKind.BATTERY, 150)]
    assert "no other site can take it" in d.steps[0].reason


def test_a_small_request_is_met_by_the_battery_rather_than_moving_a_large_part() -> None:
    big = RunningJob("batch-c", "all", 1000, False, True, at("16:00"))

    d = decide(_event(50), _seed(jobs=(big,)))

    # battery 0.06 x 50 kW x 2 h = £6 < moving 0.01 x 1000 kW x 2 h = £20
    assert [(s.kind, s.power_kw) for s in d.steps] == [(StepKind.BATTERY, 50)]
    assert d.cost_gbp == pytest.approx(6)


def test_a_part_already_off_through_the_event_counts_for_free() -> None:
    off = RunningJob("batch-a", "sweep", 300, False, True, at("16:00"), off_until=at("16:00"))

    d = decide(_event(300), _seed(jobs=(CORE, off)))

    assert [(s.kind, s.power_kw) for s in d.steps] == [(StepKind.ALREADY_OFF, 300)]
    assert (d.relief_kw, d.shortfall_kw, d.cost_gbp) == (300, 0, 0)


def test_an_earlier_events_action_is_extended_from_where_it_ends() -> None:
    off = RunningJob("batch-a", "sweep", 300, False, True, at("18:00"), off_until=at("15:00"))

    (move,) = decide(_event(300), _seed(jobs=(CORE, off))).steps

    assert (move.kind, move.start, move.end) == (StepKind.MIGRATE, at("15:00"), at("16:00"))
    assert move.cost_gbp == pytest.approx(0.01 * 300 * 1)  # only the hour not yet covered
    assert "extending an earlier event's action" in move.reason


def test_a_battery_that_runs_out_gives_only_its_energy_and_pausing_covers_the_rest() -> None:
    low = BatteryState(200, 100)  # 100 kWh over 2 h = 50 kW
    small = RunningJob("batch-d", "eval", 120, False, False, at("16:00"))

    d = decide(_event(150), _seed(jobs=(CORE, small), battery=low,
                                  manchester_stressed=True))

    assert [(s.kind, s.power_kw) for s in d.steps] == [(StepKind.PAUSE, 120),
                                                       (StepKind.BATTERY, 30)]


def test_a_price_signal_alone_buys_every_action_cheaper_than_the_price_rise() -> None:
    d = decide(_event(0, price_delta_gbp_per_kwh=0.03), _seed())

    # moving costs 0.01 £/kWh < 0.03: taken; battery 0.06 and pausing 0.25 are not worth it
    assert [(s.kind, s.power_kw) for s in d.steps] == [(StepKind.MIGRATE, 300)]
    assert (d.target_kw, d.shortfall_kw) == (300, 0)


def test_every_step_says_why() -> None:
    d = decide(_event(1200), _seed())

    assert all(s.reason.startswith(f"stress {STRESS_ID}: ") for s in d.steps)


# ---- invariants over random fleets ------------------------------------------------------------

T0, T1 = datetime.fromisoformat("2025-11-17T14:00:00+00:00"), at("16:00")
ENDS = st.sampled_from([at("15:00"), at("16:00"), at("18:00")])


@st.composite
def fleets(draw: st.DrawFn) -> tuple[StressEvent, dict[str, SiteState]]:
    n_sites = draw(st.integers(1, 4))
    sites = {}
    for k in range(n_sites):
        jobs = tuple(RunningJob(f"j{k}-{i}", "p", draw(st.floats(1, 500)), draw(st.booleans()),
                                draw(st.booleans()), draw(ENDS))
                     for i in range(draw(st.integers(0, 12))))
        draw_kw = sum(j.power_kw for j in jobs)
        confirmed = draw(st.one_of(st.none(), st.floats(0, 3000)))
        batt = draw(st.one_of(st.none(), st.builds(BatteryState, st.floats(0, 400),
                                                   st.floats(0, 800))))
        sites[f"s{k}"] = SiteState(f"s{k}", f"z{draw(st.integers(0, 2))}", jobs, draw_kw,
                                   confirmed, batt, draw(st.booleans()))
    ev = StressEvent("e", "s0", T0, T1, draw(st.floats(0, 3000)),
                     draw(st.floats(0, 0.5)))
    costs = draw(st.builds(Costs, st.floats(0.001, 0.3), st.floats(0.001, 0.3),
                           st.floats(0.001, 0.3), st.floats(0.001, 0.3)))
    return ev, sites, costs


@settings(max_examples=150, deadline=None)
@given(fleets())
def test_policy_invariants(case: tuple[StressEvent, dict[str, SiteState], Costs]) -> None:
    ev, sites, costs = case
    d = decide(ev, sites, costs)
    here = sites[ev.site_id]
    jobs = {(j.job_id, j.part_id): j for j in here.jobs}

    # met, or the shortfall is exactly what is missing
    assert d.shortfall_kw == pytest.approx(max(0.0, d.target_kw - d.relief_kw), abs=1e-6)
    if ev.requested_kw > EPS:  # else: an economic response to the price signal
        assert d.target_kw == ev.requested_kw
    # a shortfall only when nothing more could be done
    if d.shortfall_kw > 1e-6:
        acted = {(s.job_id, s.part_id) for s in d.steps if s.job_id}
        assert all(j.critical or (j.job_id, j.part_id) in acted or j.end <= ev.start
                   for j in here.jobs)
        if here.battery is not None:
            assert d.battery_kw == pytest.approx(min(here.battery.power_kw,
                                                     here.battery.usable_kwh / 2), abs=1e-6)
    for s in d.steps:
        assert s.reason  # every action explained
        if s.job_id is not None:
            assert not jobs[(s.job_id, s.part_id)].critical  # critical parts untouched
    # never beyond the capacity the grid confirmed: moves within headroom, the rest asked for
    for dest, site in sites.items():
        moved = sum(s.power_kw for s in d.steps if s.kind == StepKind.MIGRATE and s.to_site == dest)
        assert moved <= site.headroom_kw + 1e-6
        if moved or dest in d.capacity_requests:
            assert site.zone != here.zone and not site.stressed and site.confirmed_kw is not None
    # the battery within its free power and its energy above the reserve over the event
    if here.battery is None:
        assert d.battery_kw == 0
    else:
        assert d.battery_kw <= here.battery.power_kw + 1e-6
        assert d.battery_kw * 2 <= here.battery.usable_kwh + 1e-6
    # no part twice
    keyed = [(s.job_id, s.part_id) for s in d.steps if s.job_id]
    assert len(keyed) == len(set(keyed))


# ---- the site's draw ------------------------------------------------------------------------

HOURS = st.integers(10, 20).map(lambda h: at(f"{h}:00"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(HOURS, HOURS, st.floats(1, 500)), max_size=12),
       st.lists(st.tuples(HOURS, HOURS, st.floats(1, 500), st.booleans()), max_size=6),
       HOURS, HOURS)
def test_the_cached_draw_profile_agrees_with_the_sweep(
        parts: list[tuple[datetime, datetime, float]],
        cmds: list[tuple[datetime, datetime, float, bool]], s: datetime, e: datetime) -> None:
    places = [placement(f"j{i}", "p", CAMBRIDGE, f"{a.hour}:00", f"{b.hour}:00", kw)
              for i, (a, b, kw) in enumerate(parts) if a < b]
    commands = [SiteCommandIssued(command_id=f"c{i}", site_id=CAMBRIDGE, power_kw=kw, start=a,
                                  end=b, event_id="e", reason="r",
                                  action=CommandAction.START_JOB if up else CommandAction.PAUSE_JOB)
                for i, (a, b, kw, up) in enumerate(cmds) if a < b]
    if s >= e:
        return
    assert draw_profile(places, commands).peak(s, e) == pytest.approx(
        peak_draw(CAMBRIDGE, s, e, places, commands))
