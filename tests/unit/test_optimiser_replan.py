"""Re-planning the rest of the horizon from a mid-day state."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.planner.optimiser.fast import solve_fast
from services.planner.optimiser.milp import solve_exact
from services.planner.optimiser.model import (
    Battery,
    Grid,
    Job,
    Problem,
    Schedule,
    Site,
    requirement_kwh,
    violations,
)
from services.planner.optimiser.replan import progress, progress_of, replan
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
    done, soc, at_site, owed = progress(p, morning, until_slot=24)
    keep = {k: kw for k, kw in morning.run_kw.items() if 24 <= k[2] < 28}
    forecast = Grid(zones=p.grid.zones, slot_hours=p.grid.slot_hours, start=p.grid.start,
                    price={z: [x * (1.5 if t % 3 == 0 else 0.8) for t, x in enumerate(v)]
                           for z, v in p.grid.price.items()},
                    carbon=p.grid.carbon, offered_kw=p.grid.offered_kw)
    rest = replan(p, done, soc, from_slot=24, keep=keep, at_site=at_site, grid=forecast,
                  owed_kwh=owed)
    assert len(rest.fixed) > 0
    assert {(j, s, t + 24) for (j, s, t) in rest.fixed} <= set(keep)
    afternoon = solve_fast(rest)
    assert violations(rest, afternoon) == []
    assert sum(afternoon.unmet_kwh.values()) == pytest.approx(0.0)
    remaining = {j.job_id: j.energy_kwh for j in rest.jobs}
    for j in p.jobs:  # each job finished this morning or is planned in full this afternoon
        assert remaining.get(j.job_id, 0.0) == pytest.approx(
            j.energy_kwh - done[j.job_id] + owed[j.job_id])
    # Energy is conserved across the re-plan: each job delivers its energy plus one migration
    # energy per move (leaving home, or leaving the site it had run at in the morning).
    stitched = {k: kw for k, kw in morning.run_kw.items() if k[2] < 24}
    stitched.update({(j, s, t + 24): kw for (j, s, t), kw in afternoon.run_kw.items()})
    for j in p.jobs:
        runs = sorted((t, s) for (jj, s, t), kw in stitched.items() if jj == j.job_id and kw > 0)
        sites = [s for _, s in runs]
        moves = sum(a != b for a, b in zip([j.home_site, *sites], sites, strict=False))
        delivered = sum(kw * p.grid.slot_hours for (jj, _s, _t), kw in stitched.items()
                        if jj == j.job_id)
        assert delivered == pytest.approx(j.energy_kwh + moves * j.migration_kwh, abs=1e-4)


# Worked by hand: J1 needs 100 kWh at 100 kW, home S1, and 40 kWh of checkpoint and transfer
# to run anywhere else; slots are 1 h.
def away_job(**kw: object) -> Job:
    return job("J1", 100.0, migration_kwh=40.0, **kw)


def ran(run_kw: dict[tuple[str, str, int], float]) -> Schedule:
    return Schedule(run_kw=run_kw, battery_kw={}, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                    unmet_kwh={}, status="given", solve_s=0.0)


def test_progress_keeps_the_migration_energy_still_owed() -> None:
    """30 kWh delivered at S2 pays 30 of the 40 kWh migration: no work done, 10 kWh owed."""
    p = Problem(jobs=(away_job(),), sites=SITES, grid=GRID)
    state = progress(p, ran({("J1", "S2", 0): 30.0}), until_slot=1)
    assert state.done_kwh == {"J1": 0.0}
    assert state.owed_kwh == {"J1": pytest.approx(10.0)}
    assert state.at_site == {"J1": "S2"}


def test_progress_counts_work_after_the_migration_is_paid() -> None:
    """60 kWh at S2: 40 migration, 20 work; nothing owed. At home nothing is owed either."""
    p = Problem(jobs=(away_job(),), sites=SITES, grid=GRID)
    state = progress(p, ran({("J1", "S2", 0): 60.0}), until_slot=1)
    assert (state.done_kwh, state.owed_kwh) == ({"J1": 20.0}, {"J1": 0.0})
    home = progress(p, ran({("J1", "S1", 0): 60.0}), until_slot=1)
    assert (home.done_kwh, home.owed_kwh, home.at_site) == ({"J1": 60.0}, {"J1": 0.0},
                                                            {"J1": "S1"})


def test_replan_carries_the_owed_migration_where_the_job_is() -> None:
    """The rest is 100 kWh of work + 10 kWh of transfer at S2 (not 100: that lost the 10 kWh),
    and the job finishes the transfer there. Over the day it delivers 30 + 110 = 140 kWh =
    100 + 40, exactly what the original problem needs, with no violation."""
    p = Problem(jobs=(away_job(),), sites=SITES, grid=GRID)
    morning = {("J1", "S2", 0): 30.0}
    state = progress(p, ran(morning), until_slot=1)
    rest = replan(p, state.done_kwh, state.battery_soc, 1, keep={}, at_site=state.at_site,
                  owed_kwh=state.owed_kwh)
    (j1,) = rest.jobs
    assert (j1.energy_kwh, j1.home_site, j1.migratable) == (pytest.approx(110.0), "S2", False)
    afternoon = solve_exact(rest)
    assert sum(afternoon.unmet_kwh.values()) == pytest.approx(0.0)
    assert {s for (_j, s, _t) in afternoon.run_kw} == {"S2"}
    assert sum(afternoon.run_kw.values()) * 1.0 == pytest.approx(110.0)
    whole = {**morning, **{(j, s, t + 1): kw for (j, s, t), kw in afternoon.run_kw.items()}}
    assert violations(p, ran(whole)) == []


def test_after_a_paid_migration_staying_is_free_and_moving_again_costs_a_new_one() -> None:
    """60 kWh at S2 (40 transfer + 20 work): 80 kWh left. The checkpoint is at S2 now, so it
    needs 80 kWh there, 80 + 40 = 120 kWh back at S1 (one new transfer, not two)."""
    p = Problem(jobs=(away_job(),), sites=SITES, grid=GRID)
    state = progress(p, ran({("J1", "S2", 0): 60.0}), until_slot=1)
    rest = replan(p, state.done_kwh, {}, 1, keep={}, at_site=state.at_site,
                  owed_kwh=state.owed_kwh)
    (j1,) = rest.jobs
    assert j1.migratable
    assert requirement_kwh(j1, "S2") == pytest.approx(80.0)
    assert requirement_kwh(j1, "S1") == pytest.approx(120.0)


def test_a_block_started_away_carries_on_even_while_its_transfer_is_unpaid() -> None:
    """A non-interruptible 200 kWh job with a 150 kWh transfer runs at S2 as one block of
    350 kWh: 100, 100, 100, 50 kW. After slot 0 only 100 kWh of the transfer is paid (done 0,
    owed 50), yet the block has started: the rest (250 kWh) must run on at S2 from now, in
    new slots 0-2 (100, 100, 50), although S2 is cheaper later too."""
    grid = Grid(zones=("A", "B"), slot_hours=1.0, start=START,
                price={"A": [0.30] * 6, "B": [0.20, 0.20, 0.20, 0.20, 0.01, 0.01]},
                carbon={"A": [100.0] * 6, "B": [100.0] * 6})
    j = Job("J1", energy_kwh=200.0, power_kw=100.0, earliest_slot=0, deadline_slot=6,
            home_site="S1", interruptible=False, migration_kwh=150.0)
    p = Problem(jobs=(j,), sites=SITES, grid=grid)
    state = progress_of(p, {("J1", "S2", 0): 100.0}, {}, until_slot=1)
    assert (state.done_kwh, state.owed_kwh) == ({"J1": 0.0}, {"J1": 50.0})
    rest = replan(p, state.done_kwh, {}, 1, keep={}, at_site=state.at_site,
                  owed_kwh=state.owed_kwh)
    (r,) = rest.jobs
    assert (r.energy_kwh, r.earliest_slot, r.deadline_slot, r.migratable) == \
        (250.0, 0, 3, False)
    s = solve_exact(rest)
    assert s.run_kw == {("J1", "S2", 0): 100.0, ("J1", "S2", 1): 100.0,
                        ("J1", "S2", 2): 50.0}

