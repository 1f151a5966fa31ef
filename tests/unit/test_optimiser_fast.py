"""The fast planner and the degflex planner against the exact MILP on small instances."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.planner.optimiser.fast import solve_fast
from services.planner.optimiser.lns import improve
from services.planner.optimiser.milp import solve_exact
from services.planner.optimiser.model import Battery, Grid, Job, Problem, Site, violations
from services.planner.optimiser.planner import plan
from services.planner.optimiser.synthetic import random_problem

SEEDS = range(8)


@pytest.fixture(scope="module")
def solved() -> list[tuple[Problem, float, object, object]]:
    out = []
    for seed in SEEDS:
        p = random_problem(seed, n_jobs=4, n_sites=2, n_slots=12, slot_hours=1.0)
        out.append((p, solve_exact(p, time_limit_s=20).objective, solve_fast(p),
                    plan(p, time_limit_s=2.0, mip_gap=1e-6)))
    return out


def test_random_instances_fast_is_feasible_and_never_beats_the_optimum(solved: list) -> None:
    for p, optimum, fast, _ in solved:
        assert violations(p, fast) == []
        assert fast.objective >= optimum - 1e-6
        assert fast.objective <= optimum * 1.05  # measured gap on these: < 0.5%


def test_random_instances_degflex_planner_reaches_the_optimum(solved: list) -> None:
    for p, optimum, _, planned in solved:
        assert violations(p, planned) == []
        assert planned.objective == pytest.approx(optimum, rel=1e-5)


def test_exact_schedules_of_random_instances_have_no_violations() -> None:
    p = random_problem(11, n_jobs=4, n_sites=2, n_slots=12, slot_hours=1.0)
    assert violations(p, solve_exact(p)) == []


GRID = Grid(zones=("A", "B"), slot_hours=1.0, start=datetime(2023, 6, 1),
            price={"A": [0.30, 0.10, 0.20, 0.40], "B": [0.25, 0.25, 0.25, 0.25]},
            carbon={"A": [100.0] * 4, "B": [20.0] * 4},
            offered_kw={"A": [1000.0, 150.0, 1000.0, 1000.0], "B": [1000.0] * 4})
BAT = Battery(power_kw=50.0, energy_kwh=100.0, soc_kwh=50.0, reserve_kwh=10.0, efficiency=0.9)
SITES = (Site("S1", "A", 200.0, pue=1.2, battery=BAT), Site("S2", "B", 100.0))


def job(job_id: str, energy: float, **kw: object) -> Job:
    return Job(job_id, energy_kwh=energy, power_kw=100.0, earliest_slot=0, deadline_slot=4,
               home_site="S1", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("extra", [
    {},
    {"carbon_budget_kg": 60.0},
    {"carbon_price_gbp_per_t": 500.0},
    {"fixed": {("J2", "S1", 2): 100.0, ("J1", "S2", 0): 40.0}},
])
def test_hand_instance_fast_matches_constraints_and_stays_near_the_optimum(extra: dict) -> None:
    jobs = (job("J1", 250.0), job("J2", 150.0, interruptible=False),
            job("J3", 200.0, migratable=False), job("J4", 100.0, migration_kwh=20.0))
    p = Problem(jobs=jobs, sites=SITES, grid=GRID, **extra)
    exact, fast = solve_exact(p), solve_fast(p)
    assert violations(p, exact) == [] and violations(p, fast) == []
    assert sum(fast.unmet_kwh.values()) == sum(exact.unmet_kwh.values()) == 0
    assert exact.objective - 1e-6 <= fast.objective <= exact.objective * 1.05


def test_fast_reports_an_infeasible_instance_as_unmet() -> None:
    p = Problem(jobs=(job("J1", 500.0, migratable=False),), sites=SITES, grid=GRID)
    s = solve_fast(p)
    assert violations(p, s) == []
    assert s.unmet_kwh["J1"] == pytest.approx(100.0)


def test_neighbourhood_search_closes_the_gap_fast_leaves() -> None:
    # Fast keeps J4 home in the cheap slot, pushing J3 to a dear one; the optimum migrates J4.
    jobs = (job("J1", 250.0), job("J2", 150.0, interruptible=False),
            job("J3", 200.0, migratable=False), job("J4", 100.0, migration_kwh=20.0))
    p = Problem(jobs=jobs, sites=SITES, grid=GRID,
                fixed={("J2", "S1", 2): 100.0, ("J1", "S2", 0): 40.0})
    fast, exact = solve_fast(p), solve_exact(p)
    assert fast.objective > exact.objective + 1.0
    better = improve(p, fast, budget_s=1.0, size=4)
    assert violations(p, better) == []
    assert better.objective == pytest.approx(exact.objective, rel=1e-6)
