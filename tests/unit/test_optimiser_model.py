"""The planning model's arithmetic and checks, on schedules written by hand (2 zones x 4 slots)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.planner.optimiser.model import (
    Battery,
    Grid,
    Job,
    Problem,
    Schedule,
    Site,
    block_profile,
    evaluate,
    violations,
)

GRID = Grid(zones=("A", "B"), slot_hours=1.0, start=datetime(2023, 6, 1),
            price={"A": [0.30, 0.10, 0.20, 0.40], "B": [0.05, 0.05, 0.05, 0.05]},
            carbon={"A": [100.0, 100.0, 100.0, 100.0], "B": [200.0, 200.0, 200.0, 200.0]},
            offered_kw={"A": [1000.0, 1000.0, 100.0, 1000.0], "B": [1000.0] * 4})
SITES = (Site("S1", "A", capacity_kw=150.0, pue=1.2,
              battery=Battery(power_kw=50.0, energy_kwh=100.0, soc_kwh=50.0, reserve_kwh=10.0,
                              efficiency=0.8)),
         Site("S2", "B", capacity_kw=100.0))


def problem(*jobs: Job, **kw: object) -> Problem:
    return Problem(jobs=jobs, sites=SITES, grid=GRID, **kw)  # type: ignore[arg-type]


def schedule(run: dict, battery: dict | None = None, unmet: dict | None = None) -> Schedule:
    return Schedule(run_kw=run, battery_kw=battery or {}, cost_gbp=0.0, carbon_kg=0.0,
                    objective=0.0, unmet_kwh=unmet or {}, status="hand", solve_s=0.0)


JOB = Job("J1", energy_kwh=100.0, power_kw=100.0, earliest_slot=0, deadline_slot=4,
          home_site="S1")


def test_evaluate_prices_grid_import_with_pue_and_battery() -> None:
    # Slot 1: IT 100 kW x PUE 1.2 = 120 kW, battery discharges 20 kW: import 100 kW at £0.10.
    p = problem(JOB, carbon_price_gbp_per_t=50.0)
    cost, carbon, objective = evaluate(p, schedule({("J1", "S1", 1): 100.0}, {("S1", 1): 20.0}))
    assert cost == pytest.approx(10.0)
    assert carbon == pytest.approx(10.0)  # 100 kWh x 100 g
    assert objective == pytest.approx(10.0 + 50.0 * 10.0 / 1000)


def test_evaluate_penalises_undelivered_energy() -> None:
    p = problem(JOB, unmet_penalty_gbp_per_kwh=100.0)
    _, _, objective = evaluate(p, schedule({("J1", "S1", 1): 60.0}, unmet={"J1": 40.0}))
    assert objective == pytest.approx(60 * 1.2 * 0.10 + 40 * 100.0)


def test_migration_energy_counts_once_when_away_from_home() -> None:
    job = Job("J1", 100.0, 100.0, 0, 4, "S1", migration_kwh=10.0)
    ok = schedule({("J1", "S2", 0): 100.0, ("J1", "S2", 1): 10.0})
    assert violations(problem(job), ok) == []
    short = schedule({("J1", "S2", 0): 100.0})
    assert any("10 kWh undelivered" in v for v in violations(problem(job), short))


def test_a_feasible_hand_schedule_has_no_violations() -> None:
    run = {("J1", "S1", 1): 50.0, ("J1", "S1", 3): 50.0}
    assert violations(problem(JOB), schedule(run, {("S1", 0): -25.0, ("S1", 1): 20.0})) == []


@pytest.mark.parametrize(("run", "battery", "fragment"), [
    ({("J1", "S1", 4): 100.0}, {}, "outside the horizon"),
    ({("J1", "S1", 0): 100.0}, {}, "outside window"),
    ({("J1", "S1", 1): 120.0}, {}, "outside [0, 100]"),
    ({("J1", "S1", 1): 50.0, ("J1", "S2", 1): 50.0}, {}, "several sites"),
    ({("J1", "S1", 1): 100.0, ("J2", "S1", 1): 100.0}, {}, "over capacity"),
    ({("J1", "S1", 2): 100.0}, {}, "over offered"),
    ({("J1", "S1", 1): 100.0}, {("S1", 2): 30.0}, "exports"),
    ({("J1", "S1", 1): 100.0}, {("S1", 1): 60.0}, "over power"),
    ({("J1", "S1", 1): 100.0}, {("S1", 1): 45.0}, "under reserve"),
    ({("J1", "S1", 1): 100.0}, {("S1", 0): -50.0, ("S1", 1): -50.0}, "over 100 kWh"),
    ({("J1", "S1", 1): 100.0}, {("S1", 1): 20.0}, "below its initial"),
    ({("J1", "S1", 1): 50.0}, {}, "undelivered"),
    ({("J1", "S2", 1): 100.0}, {}, "non-migratable"),
])
def test_violations_name_each_broken_constraint(run: dict, battery: dict, fragment: str) -> None:
    j1 = Job("J1", 100.0, 100.0, 1, 4, "S1", migratable="non-migratable" not in fragment)
    j2 = Job("J2", 100.0, 100.0, 0, 4, "S1")
    full = dict(run)
    if ("J2", "S1", 1) not in full:
        full[("J2", "S2", 3)] = 100.0
    found = violations(problem(j1, j2), schedule(full, battery))
    assert any(fragment in v for v in found), found


def test_non_interruptible_must_be_one_contiguous_full_power_block() -> None:
    job = Job("J1", 150.0, 100.0, 0, 4, "S1", interruptible=False)
    assert block_profile(job, "S1", 1.0) == (100.0, 50.0)
    good = schedule({("J1", "S1", 1): 100.0, ("J1", "S1", 2): 50.0})
    assert violations(problem(job), good) == []
    gap = schedule({("J1", "S1", 0): 100.0, ("J1", "S1", 2): 50.0})
    assert any("not contiguous" in v for v in violations(problem(job), gap))
    low = schedule({("J1", "S1", 1): 75.0, ("J1", "S1", 2): 75.0})
    assert any("not at full power" in v for v in violations(problem(job), low))


def test_fixed_commitments_and_carbon_budget_are_checked() -> None:
    p = problem(JOB, fixed={("J1", "S1", 3): 50.0}, carbon_budget_kg=5.0)
    found = violations(p, schedule({("J1", "S1", 1): 100.0}))
    assert any("committed 50" in v for v in found)
    assert any("over budget" in v for v in found)


def test_declared_unmet_must_match_what_was_not_delivered() -> None:
    honest = schedule({("J1", "S1", 1): 60.0}, unmet={"J1": 40.0})
    assert violations(problem(JOB), honest) == []
    hidden = schedule({("J1", "S1", 1): 60.0})
    assert any("0 declared" in v for v in violations(problem(JOB), hidden))
