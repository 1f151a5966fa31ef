"""Each policy on instances small enough to check by hand: one job, two zones, four slots."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from services.evaluate import policies as pol
from services.evaluate.forecasts import Forecaster, Signals
from services.planner.optimiser.model import Grid, Job, Problem, Site, violations

START = datetime(2023, 6, 12, tzinfo=UTC)
DIRTY_THEN_CLEAN = [300.0, 100.0, 50.0, 200.0]  # home zone: best 2-slot window is slots 1-2
FLAT = [100.0, 100.0, 100.0, 100.0]  # the other zone: cleaner than home only in slot 0


def signals(carbon: dict[str, list[float]], price: float = 0.2) -> Signals:
    n = len(next(iter(carbon.values())))
    return Signals(zones=tuple(carbon), start=START, n_slots=n, history=0,
                   carbon={z: np.array(v) for z, v in carbon.items()},
                   price={z: np.full(n, price) for z in carbon})


def problem(jobs: tuple[Job, ...], carbon: dict[str, list[float]], *,
            capacity_kw: float = 1000.0, carbon_price: float = 1000.0) -> Problem:
    n = len(carbon["HOME-Z"])
    grid = Grid(zones=("HOME-Z", "OTHER-Z"), slot_hours=0.5, start=START,
                price={z: [0.2] * n for z in carbon}, carbon=carbon)
    sites = (Site("home", "HOME-Z", capacity_kw), Site("away", "OTHER-Z", capacity_kw))
    return Problem(jobs=jobs, sites=sites, grid=grid, carbon_price_gbp_per_t=carbon_price)


def job(**kw) -> Job:
    base = {"job_id": "j", "energy_kwh": 100.0, "power_kw": 100.0, "earliest_slot": 0,
            "deadline_slot": 4, "home_site": "home", "interruptible": True, "migratable": True}
    return Job(**{**base, **kw})  # 100 kW for 1 h = two half-hour slots


CARBON = {"HOME-Z": DIRTY_THEN_CLEAN, "OTHER-Z": FLAT}


@pytest.fixture
def one_job() -> tuple[Problem, Forecaster]:
    return problem((job(),), CARBON), Forecaster(signals(CARBON), "perfect")


def slots(run: pol.PolicyRun) -> list[tuple[str, int, float]]:
    return sorted((s, t, kw) for (_j, s, t), kw in run.schedule.run_kw.items())


def test_run_now_starts_at_arrival_at_home(one_job) -> None:
    out = pol.run_now(*one_job)
    assert slots(out) == [("home", 0, 100.0), ("home", 1, 100.0)]
    # (300 + 100) g/kWh x 50 kWh each
    assert out.schedule.carbon_kg == pytest.approx(20.0)


def test_cleanest_site_picks_the_cleaner_zone_at_arrival(one_job) -> None:
    assert slots(pol.cleanest_site(*one_job)) == [("away", 0, 100.0), ("away", 1, 100.0)]


def test_cleanest_site_keeps_a_non_migratable_job_home() -> None:
    p = problem((job(migratable=False),), CARBON)
    out = pol.cleanest_site(p, Forecaster(signals(CARBON), "perfect"))
    assert {s for s, _, _ in slots(out)} == {"home"}


def test_carbon_aware_sdk_picks_the_lowest_average_window(one_job) -> None:
    out = pol.carbon_aware_sdk(*one_job)
    assert slots(out) == [("home", 1, 100.0), ("home", 2, 100.0)]
    assert out.schedule.carbon_kg == pytest.approx(7.5)  # (100 + 50) x 50 kWh


def test_best_window_starts_ranks_by_mean_then_earliest() -> None:
    assert pol.best_window_starts(np.array(DIRTY_THEN_CLEAN), 0, 4, 2) == [1, 2, 0]
    assert pol.best_window_starts(np.array([5.0, 5.0, 5.0]), 0, 3, 1) == [0, 1, 2]
    assert pol.best_window_starts(np.array([5.0]), 0, 1, 2) == []


def test_pause_above_threshold_pauses_then_catches_up(one_job) -> None:
    """Threshold 60: slots 0 and 1 are above it and the job can still wait; slot 2 is below;
    in slot 3 it must run to finish by its deadline."""
    out = pol.pause_above_threshold(*one_job, threshold_g_per_kwh=60.0)
    assert slots(out) == [("home", 2, 100.0), ("home", 3, 100.0)]
    assert out.schedule.unmet_kwh["j"] == 0.0


def test_pause_above_threshold_runs_non_interruptible_jobs_at_once() -> None:
    p = problem((job(interruptible=False),), CARBON)
    out = pol.pause_above_threshold(p, Forecaster(signals(CARBON), "perfect"), 60.0)
    assert slots(out) == [("home", 0, 100.0), ("home", 1, 100.0)]


def test_degflex_perfect_finds_the_cleanest_place_and_time(one_job) -> None:
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    out = pol.degflex_once(*one_job, solve)
    assert slots(out) == [("home", 1, 100.0), ("home", 2, 100.0)]
    assert out.solver == "optimal x1"


def test_degflex_plans_within_the_offered_grid_capacity() -> None:
    """The forecast replaces price and carbon only: the zones' offered capacity still binds.
    Home offers 100 kW in slots 0 and 3 only, the other zone nothing, so the job (two slots
    at 100 kW) must take home slots 0 and 3, not the cleanest slots 1-2 (150 g/kWh there vs
    (300 + 200) / 2 = 250 g/kWh)."""
    p = problem((job(),), CARBON)
    offered = {"HOME-Z": [100.0, 0.0, 0.0, 100.0], "OTHER-Z": [0.0] * 4}
    p = replace(p, grid=replace(p.grid, offered_kw=offered))
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    for out in (pol.degflex_once(p, Forecaster(signals(CARBON), "perfect"), solve),
                pol.degflex_rolling(p, Forecaster(signals(CARBON), "perfect"), solve)):
        assert slots(out) == [("home", 0, 100.0), ("home", 3, 100.0)]
        assert violations(p, out.schedule) == []


def test_policies_decide_on_the_forecast_and_are_scored_on_actuals() -> None:
    """The forecast says slots 2-3 are cleanest at home, the actual series says slots 0-1:
    the SDK rule follows the forecast, and its carbon is counted on the actual series."""
    actual = {"HOME-Z": [10.0, 10.0, 500.0, 500.0], "OTHER-Z": FLAT}
    believed = {"HOME-Z": [500.0, 500.0, 10.0, 10.0], "OTHER-Z": FLAT}
    p = problem((job(),), actual)
    out = pol.carbon_aware_sdk(p, Forecaster(signals(believed), "perfect"))
    assert slots(out) == [("home", 2, 100.0), ("home", 3, 100.0)]
    assert out.schedule.carbon_kg == pytest.approx(50.0)  # 500 g x 100 kWh, not 10 g


def test_baselines_wait_when_the_site_is_full() -> None:
    jobs = (job(job_id="a"), job(job_id="b"))
    p = problem(jobs, CARBON, capacity_kw=100.0)
    out = pol.run_now(p, Forecaster(signals(CARBON), "perfect"))
    assert sorted(t for (j, _s, t) in out.schedule.run_kw if j == "b") == [2, 3]
    assert violations(p, out.schedule) == []


def test_a_miss_is_declared_when_nothing_fits() -> None:
    jobs = (job(job_id="a", deadline_slot=2), job(job_id="b", deadline_slot=2,
                                                   migratable=False))
    p = problem(jobs, CARBON, capacity_kw=100.0)
    out = pol.run_now(p, Forecaster(signals(CARBON), "perfect"))
    assert out.schedule.unmet_kwh["b"] == pytest.approx(100.0)
    assert violations(p, out.schedule) == []


def test_scored_declares_the_shortfall() -> None:
    p = problem((job(),), CARBON)
    s = pol.scored(p, {("j", "home", 0): 100.0}, "partial", 0.0)
    assert s.unmet_kwh["j"] == pytest.approx(50.0)
    assert s.carbon_kg == pytest.approx(15.0)
    assert violations(p, s) == []


# Rolling horizon -----------------------------------------------------------------------------

EIGHT = {"HOME-Z": [300.0, 300.0, 40.0, 50.0, 60.0, 300.0, 300.0, 300.0],
         "OTHER-Z": [200.0] * 8}


def test_rolling_matches_the_one_shot_plan_when_everything_is_known() -> None:
    p = problem((job(deadline_slot=8),), EIGHT)
    f = Forecaster(signals(EIGHT), "perfect")
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    once, rolling = pol.degflex_once(p, f, solve), pol.degflex_rolling(p, f, solve,
                                                                        replan_hours=1.0)
    assert slots(rolling) == slots(once) == [("home", 2, 100.0), ("home", 3, 100.0)]
    assert rolling.solves == 2  # at slots 0 and 2; by slot 4 the job is done


def test_rolling_does_not_see_a_job_before_it_arrives() -> None:
    first = job(job_id="a", deadline_slot=8)
    late = job(job_id="b", earliest_slot=3, deadline_slot=8, migratable=False)
    f = Forecaster(signals(EIGHT), "perfect")
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    alone = pol.degflex_rolling(problem((first,), EIGHT, capacity_kw=100.0), f, solve)
    both = pol.degflex_rolling(problem((first, late), EIGHT, capacity_kw=100.0), f, solve)
    before = {k: v for k, v in both.schedule.run_kw.items() if k[2] < 3}
    assert before == {k: v for k, v in alone.schedule.run_kw.items() if k[2] < 3}


def test_rolling_keeps_a_started_block_contiguous_across_a_replan() -> None:
    """A non-interruptible 2 h job starts in the clean slots; a job arriving mid-run does not
    break it, and every schedule keeps the model's constraints."""
    long_block = job(job_id="block", energy_kwh=200.0, interruptible=False, deadline_slot=8,
                     migratable=False)
    late = job(job_id="late", earliest_slot=3, deadline_slot=8)
    p = problem((long_block, late), EIGHT, capacity_kw=150.0)
    f = Forecaster(signals(EIGHT), "perfect")
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    out = pol.degflex_rolling(p, f, solve, replan_hours=0.5)
    block = sorted(t for (j, _s, t) in out.schedule.run_kw if j == "block")
    assert block == list(range(block[0], block[0] + 4))
    assert violations(p, out.schedule) == []
    assert sum(out.schedule.unmet_kwh.values()) == pytest.approx(0.0, abs=1e-6)


def test_rolling_with_noisy_forecasts_keeps_every_constraint() -> None:
    jobs = tuple(job(job_id=f"j{i}", earliest_slot=i % 3, deadline_slot=8,
                     interruptible=i % 2 == 0, migratable=i % 3 != 0,
                     migration_kwh=10.0) for i in range(6))
    p = problem(jobs, EIGHT, capacity_kw=300.0)
    f = Forecaster(signals(EIGHT), "noisy", seed=4)
    out = pol.degflex_rolling(p, f, pol.make_solver(pol.SolverOptions(solver="exact")))
    assert violations(p, out.schedule) == []


# Spatial / temporal split --------------------------------------------------------------------


def test_time_only_keeps_every_job_at_home(one_job) -> None:
    p, f = one_job
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    out = pol.restricted(pol.time_only, lambda q, g: pol.degflex_once(q, g, solve))(p, f)
    assert {s for s, _, _ in slots(out)} == {"home"}


def test_site_only_starts_at_arrival_and_may_move() -> None:
    carbon = {"HOME-Z": [300.0, 300.0, 50.0, 50.0], "OTHER-Z": FLAT}
    p = problem((job(),), carbon)
    f = Forecaster(signals(carbon), "perfect")
    solve = pol.make_solver(pol.SolverOptions(solver="exact"))
    out = pol.restricted(pol.site_only, lambda q, g: pol.degflex_once(q, g, solve))(p, f)
    assert slots(out) == [("away", 0, 100.0), ("away", 1, 100.0)]
    assert violations(p, out.schedule) == []


def test_site_only_window_is_the_run_length_from_arrival() -> None:
    p = problem((job(earliest_slot=1, migration_kwh=10.0),), CARBON)
    (j,) = pol.site_only(p).jobs
    # 110 kWh away from home at 100 kW: three half-hours
    assert (j.earliest_slot, j.deadline_slot, j.interruptible) == (1, 4, False)


def test_solver_options_refuse_an_unknown_solver() -> None:
    with pytest.raises(ValueError, match="solver"):
        pol.make_solver(replace(pol.SolverOptions(), solver="magic"))
