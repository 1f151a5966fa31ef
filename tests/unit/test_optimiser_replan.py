"""Re-planning the rest of the horizon from a mid-day state."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.planner.optimiser.fast import solve_fast
from services.planner.optimiser.milp import solve_exact
from services.planner.optimiser.model import Battery, Grid, Job, Problem, Site, violations
from services.planner.optimiser.replan import progress, replan
from services.planner.optimiser.synthetic import random_problem

START = datetime(2023, 6, 1)
GRID = Grid(zones=("A", "B"), slot_hours=1.0, start=START,
            price={"A": [0.30, 0.10, 0.20, 0.40], "B": [0.05] * 4},
            carbon={"A": [100.0] * 4, "B": [300.0] * 4})
BAT = Battery(power_kw=50.0, energy_kwh=100.0, soc_kwh=50.0, reserve_kwh=10.0, efficiency=0.8)
SITES = (Site("S1", "A", 100.0, battery=BAT), Site("S2", "B", 100.0))


def job(job_id: str, energy: float, **kw: object) -> Job:
    return Job(job_id, energy_kwh=energy, power_kw=100.0, earliest_slot=0, deadline_slot=4,
               home_site="S1", **kw)  # type: ignore[arg-type]


def test_rest_of_horizon_shifts_slots_and_carries_the_state() -> None:
    p = Problem(jobs=(job("J1", 100.0, migratable=False), job("J2", 100.0)), sites=SITES,
                grid=GRID, carbon_budget_kg=50.0)
    new = replan(p, done_kwh={"J1": 50.0, "J2": 100.0}, battery_soc={"S1": 70.0}, from_slot=2,
                 keep={("J1", "S1", 1): 100.0, ("J1", "S1", 2): 50.0}, carbon_used_kg=20.0)
    assert [j.job_id for j in new.jobs] == ["J1"]  # J2 is finished
    (j1,) = new.jobs
    assert (j1.energy_kwh, j1.earliest_slot, j1.deadline_slot) == (50.0, 0, 2)
    assert new.grid.start == START + timedelta(hours=2)
    assert list(new.grid.price["A"]) == [0.20, 0.40]
    assert new.sites[0].battery is not None and new.sites[0].battery.soc_kwh == 70.0
    assert new.fixed == {("J1", "S1", 0): 50.0}  # the past commitment is gone
    assert new.carbon_budget_kg == 30.0
    s = solve_exact(new)
    assert violations(new, s) == []
    assert s.run_kw == {("J1", "S1", 0): 50.0}


def test_commitments_that_are_no_longer_possible_are_dropped() -> None:
    p = Problem(jobs=(job("J1", 100.0, migratable=False), job("J2", 100.0), job("J3", 100.0)),
                sites=SITES, grid=GRID)
    keep = {("J1", "S2", 2): 100.0,   # J1 may not leave home
            ("J2", "S1", 2): 100.0,   # J2 is finished
            ("J3", "S1", 2): 100.0,   # J3 needs only 50 kWh more: too much
            ("J3", "S1", 9): 50.0}    # beyond the horizon
    new = replan(p, {"J2": 100.0, "J3": 50.0}, {}, from_slot=1, keep=keep)
    assert new.fixed == {}
    ok = replan(p, {"J3": 50.0}, {}, from_slot=1, keep={("J3", "S1", 2): 50.0})
    assert ok.fixed == {("J3", "S1", 1): 50.0}


def test_capacity_limits_the_commitments_kept() -> None:
    p = Problem(jobs=(job("J1", 100.0), job("J2", 100.0)), sites=SITES, grid=GRID)
    new = replan(p, {}, {}, from_slot=0, keep={("J1", "S1", 1): 100.0, ("J2", "S1", 1): 100.0})
    assert new.fixed == {("J1", "S1", 1): 100.0}
    assert violations(new, solve_exact(new)) == []


def test_a_running_non_interruptible_job_carries_on_where_it_is() -> None:
    p = Problem(jobs=(job("J1", 300.0, interruptible=False),), sites=SITES, grid=GRID)
    new = replan(p, {"J1": 100.0}, {}, from_slot=1, keep={}, at_site={"J1": "S1"})
    (j1,) = new.jobs
    assert (j1.energy_kwh, j1.earliest_slot, j1.deadline_slot, j1.migratable) == \
        (200.0, 0, 2, False)
    s = solve_exact(new)  # S2 is cheaper, but the job cannot move or pause
    assert s.run_kw == {("J1", "S1", 0): 100.0, ("J1", "S1", 1): 100.0}


def test_replanning_a_day_at_midday_keeps_commitments_and_finishes_the_work() -> None:
    p = random_problem(3, n_jobs=10, n_sites=3, n_slots=48)
    morning = solve_fast(p)
    assert violations(p, morning) == [] and sum(morning.unmet_kwh.values()) == 0
    done, soc, at_site = progress(p, morning, until_slot=24)
    keep = {k: kw for k, kw in morning.run_kw.items() if 24 <= k[2] < 28}
    forecast = Grid(zones=p.grid.zones, slot_hours=p.grid.slot_hours, start=p.grid.start,
                    price={z: [x * (1.5 if t % 3 == 0 else 0.8) for t, x in enumerate(v)]
                           for z, v in p.grid.price.items()},
                    carbon=p.grid.carbon, offered_kw=p.grid.offered_kw)
    rest = replan(p, done, soc, from_slot=24, keep=keep, at_site=at_site, grid=forecast)
    assert len(rest.fixed) > 0
    assert {(j, s, t + 24) for (j, s, t) in rest.fixed} <= set(keep)
    afternoon = solve_fast(rest)
    assert violations(rest, afternoon) == []
    assert sum(afternoon.unmet_kwh.values()) == pytest.approx(0.0)
    remaining = {j.job_id: j.energy_kwh for j in rest.jobs}
    for j in p.jobs:  # each job finished this morning or is planned in full this afternoon
        assert remaining.get(j.job_id, 0.0) == pytest.approx(j.energy_kwh - done[j.job_id])
