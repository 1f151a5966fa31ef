"""The load-shifter's policy is least-cost: events where the old greedy alone paid more, with
the least cost worked out by hand (every cover enumerated), and large events bounded."""

from __future__ import annotations

import re

import pytest

from services.load_shifter.policy import (
    BatteryState,
    RunningJob,
    SiteState,
    StepKind,
    StressEvent,
    decide,
)

from .factories import CAMBRIDGE, MANCHESTER, STRESS_ID, at


def _sites(jobs: tuple[RunningJob, ...], headroom: float,
           battery: BatteryState | None = None) -> dict[str, SiteState]:
    draw = sum(j.power_kw for j in jobs)
    return {CAMBRIDGE: SiteState(CAMBRIDGE, "UK-EAST", jobs, draw, draw, battery),
            MANCHESTER: SiteState(MANCHESTER, "UK-NW", (), 1000, 1000 + headroom)}


def _event(kw: float) -> StressEvent:
    return StressEvent(STRESS_ID, CAMBRIDGE, at("14:00"), at("16:00"), kw)


def test_a_part_that_fits_the_headroom_alone_is_moved_not_queued_for_capacity() -> None:
    # 90 kW asked; parts of 100 and 70 kW, both movable, 2 h; Manchester has 100 kW headroom.
    # Covers: {100} (>= 90) or {100, 70}; {70} alone is short. {100} moved into the headroom:
    # 0.01 £/kWh x 100 kW x 2 h = £2.00. The old greedy moved the 70 kW part first (it fitted
    # under the request), then needed the 100 kW part, which no longer fitted, and after
    # dropping the 70 kW part kept the 100 kW one as a move awaiting 70 kW more capacity:
    # 0.03 x 100 x 2 = £6.00.
    jobs = (RunningJob("a", "p", 100, False, True, at("16:00")),
            RunningJob("b", "p", 70, False, True, at("16:00")))

    d = decide(_event(90), _sites(jobs, 100))

    assert [(s.kind, s.job_id, s.power_kw, s.to_site) for s in d.steps] == [
        (StepKind.MIGRATE, "a", 100, MANCHESTER)]
    assert d.cost_gbp == pytest.approx(2.0)
    assert d.capacity_requests == {}
    assert d.solver == "exact"
    assert "100 kW headroom left" in d.steps[0].reason


def test_a_larger_pause_topped_up_by_the_battery_beats_two_pauses_that_fit_exactly() -> None:
    # 90 kW asked; parts of 60, 80 and 30 kW that cannot move (pause £0.25/kWh x 2 h = £0.50
    # per kW); a battery of 20 kW (£0.06/kWh x 2 h = £0.12 per kW). The parts must give at
    # least 70 kW: {80} + battery 10 = 40 + 1.20 = £41.20; {60, 30} = £45; {80, 30} = £55;
    # {60, 80} = £70; {60} + 20 = 80 kW is short. The old greedy paused 60 + 30 (£45).
    jobs = (RunningJob("a", "p", 60, False, False, at("16:00")),
            RunningJob("b", "p", 80, False, False, at("16:00")),
            RunningJob("c", "p", 30, False, False, at("16:00")))

    d = decide(_event(90), _sites(jobs, 0, BatteryState(20, 1000)))

    assert sorted((s.kind, s.job_id or "", s.power_kw) for s in d.steps) == [
        (StepKind.BATTERY, "", pytest.approx(10)), (StepKind.PAUSE, "b", 80)]
    assert d.cost_gbp == pytest.approx(41.2)
    assert d.shortfall_kw == 0
    assert d.solver == "exact"


def test_a_part_running_for_less_of_the_event_is_the_cheaper_one_to_move() -> None:
    # 50 kW asked over 14:00-16:00; two movable 50 kW parts, one ending at 16:00 (2 h of the
    # event), one at 15:00 (1 h). Moving the short one: 0.01 x 50 x 1 = £0.50; the long one
    # £1.00. The old greedy ranked by £/kWh only and took the first by name (the long one).
    jobs = (RunningJob("a-long", "p", 50, False, True, at("16:00")),
            RunningJob("b-short", "p", 50, False, True, at("15:00")))

    d = decide(_event(50), _sites(jobs, 200))

    assert [(s.kind, s.job_id) for s in d.steps] == [(StepKind.MIGRATE, "b-short")]
    assert d.cost_gbp == pytest.approx(0.5)


def test_the_greedy_answer_stands_when_the_exact_solve_finds_nothing_cheaper() -> None:
    # The seed-day shape: 300 kW moved into 300 kW headroom (£6) and the battery 150 kW (£18)
    # is the only cover without pausing (£0.25/kWh); the greedy finds it and the solve agrees.
    jobs = (RunningJob("batch-a", "sweep", 300, False, True, at("16:00")),)

    d = decide(_event(450), _sites(jobs, 300, BatteryState(200, 320)))

    assert d.cost_gbp == pytest.approx(24)
    assert d.solver == "greedy (exact agrees)"


def test_too_large_for_the_exact_solve_the_greedy_is_bounded_by_the_lp() -> None:
    # 500 movable 10 kW parts (2 h) and 100 kW headroom: 2,000 choices, above the exact limit.
    # 1,000 kW asked: 10 parts into the headroom (0.01 x 100 x 2 = £2) and 90 moved after a
    # capacity request (0.03 x 900 x 2 = £54): £56. Pricing the headroom at 0.04 £/kW, every
    # part relieves at 0.06 £/kW (0.02 + 0.04, or 0.06 asking): 1,000 x 0.06 - 0.04 x 100 = £56,
    # so the bound proves the greedy least-cost.
    jobs = tuple(RunningJob(f"j{i:03}", "p", 10, False, True, at("16:00")) for i in range(500))

    d = decide(_event(1000), _sites(jobs, 100))

    assert d.cost_gbp == pytest.approx(56)
    m = re.fullmatch(r"greedy \(too large for the exact solve; proved within ([\d.]+) % of "
                     r"the least cost\)", d.solver)
    assert m is not None, d.solver
    assert float(m.group(1)) == pytest.approx(0, abs=0.01)
