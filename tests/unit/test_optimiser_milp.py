"""The exact planner on tiny instances whose optimum is worked out by hand (1 h slots)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.planner.optimiser.milp import solve_exact
from services.planner.optimiser.model import Battery, Grid, Job, Problem, Schedule, Site, violations

FLAT_B = [0.05] * 4


def grid(price_a: list[float], carbon_a: list[float] | None = None,
         offered_a: list[float] | None = None) -> Grid:
    return Grid(zones=("A", "B"), slot_hours=1.0, start=datetime(2023, 6, 1),
                price={"A": price_a, "B": FLAT_B},
                carbon={"A": carbon_a or [100.0] * 4, "B": [300.0] * 4},
                offered_kw=None if offered_a is None else {"A": offered_a})


S1 = Site("S1", "A", capacity_kw=100.0)
S2 = Site("S2", "B", capacity_kw=100.0)
PRICE = [0.30, 0.10, 0.20, 0.40]


def job(job_id: str = "J1", energy: float = 100.0, earliest: int = 0, deadline: int = 4,
        **kw: object) -> Job:
    return Job(job_id, energy_kwh=energy, power_kw=100.0, earliest_slot=earliest,
               deadline_slot=deadline, home_site="S1", **kw)  # type: ignore[arg-type]


def solve(p: Problem) -> Schedule:
    s = solve_exact(p, time_limit_s=10)
    assert violations(p, s) == []
    return s


def slots(s: Schedule, job_id: str = "J1") -> dict[int, float]:
    return {t: round(kw, 6) for (j, _s, t), kw in s.run_kw.items() if j == job_id}


def test_runs_in_the_cheapest_slot() -> None:
    s = solve(Problem(jobs=(job(),), sites=(S1,), grid=grid(PRICE)))
    assert slots(s) == {1: 100.0}
    assert (s.cost_gbp, s.carbon_kg, s.status) == (pytest.approx(10.0), pytest.approx(10.0),
                                                   "optimal")


def test_no_job_runs_outside_its_window() -> None:
    s = solve(Problem(jobs=(job(earliest=2, deadline=4),), sites=(S1,), grid=grid(PRICE)))
    assert slots(s) == {2: 100.0}
    assert s.cost_gbp == pytest.approx(20.0)


def test_site_capacity_pushes_the_second_job_to_the_next_cheapest_slot() -> None:
    s = solve(Problem(jobs=(job("J1"), job("J2")), sites=(S1,), grid=grid(PRICE)))
    used = sorted(list(slots(s, "J1")) + list(slots(s, "J2")))
    assert used == [1, 2]
    assert s.cost_gbp == pytest.approx(30.0)


def test_offered_grid_capacity_is_respected_with_pue() -> None:
    # PUE 1.25: 100 kW IT draws 125 kW; slot 1 offers only 100 kW, so 80 kW IT at most there.
    site = Site("S1", "A", capacity_kw=100.0, pue=1.25)
    p = Problem(jobs=(job(),), sites=(site,), grid=grid(PRICE, offered_a=[500, 100, 500, 500]))
    s = solve(p)
    assert slots(s) == {1: 80.0, 2: 20.0}
    assert s.cost_gbp == pytest.approx(100 * 0.10 + 25 * 0.20)


def test_migration_pays_when_the_other_zone_is_cheap_enough() -> None:
    # Away needs 110 kWh at £0.05 = £5.50 < £10 at home.
    p = Problem(jobs=(job(migration_kwh=10.0),), sites=(S1, S2), grid=grid(PRICE))
    s = solve(p)
    assert {site for (_j, site, _t) in s.run_kw} == {"S2"}
    assert s.cost_gbp == pytest.approx(5.5)


def test_non_migratable_jobs_stay_home() -> None:
    p = Problem(jobs=(job(migratable=False),), sites=(S1, S2), grid=grid(PRICE))
    s = solve(p)
    assert {site for (_j, site, _t) in s.run_kw} == {"S1"}
    assert s.cost_gbp == pytest.approx(10.0)


def test_non_interruptible_runs_contiguously_at_full_power() -> None:
    # 150 kWh at 100 kW: a 100 + 50 kW block. Interruptible would take slots 0 and 2 (£0.10);
    # contiguous, the best block is slots 2-3 (100 x 0.10 + 50 x 0.30 = £25).
    p = Problem(jobs=(job(energy=150.0, interruptible=False),), sites=(S1,),
                grid=grid([0.10, 0.40, 0.10, 0.30]))
    s = solve(p)
    assert slots(s) == {2: 100.0, 3: 50.0}
    assert s.cost_gbp == pytest.approx(25.0)
    interruptible = solve(Problem(jobs=(job(energy=150.0),), sites=(S1,),
                                  grid=grid([0.10, 0.40, 0.10, 0.30])))
    assert set(slots(interruptible)) == {0, 2}
    assert interruptible.cost_gbp == pytest.approx(15.0)


def test_carbon_price_shifts_work_to_cleaner_slots() -> None:
    g = grid([0.10, 0.12, 0.30, 0.30], carbon_a=[400.0, 50.0, 100.0, 100.0])
    cheap = solve(Problem(jobs=(job(),), sites=(S1,), grid=g))
    assert slots(cheap) == {0: 100.0}
    # At £200/t slot 0 costs 0.10 + 0.08 and slot 1 0.12 + 0.01 per kWh.
    clean = solve(Problem(jobs=(job(),), sites=(S1,), grid=g, carbon_price_gbp_per_t=200.0))
    assert slots(clean) == {1: 100.0}
    assert clean.objective == pytest.approx(12.0 + 200.0 * 5.0 / 1000)


def test_a_binding_carbon_budget_changes_the_plan() -> None:
    # Cheapest is slot 0 (£10, 20 kg). Within 10 kg the cheapest mix is all of slot 1 (£20);
    # slots 0+2 would cost £23.33, slots 0+3 £26.67.
    g = grid([0.10, 0.20, 0.30, 0.40], carbon_a=[200.0, 100.0, 50.0, 20.0])
    free = solve(Problem(jobs=(job(),), sites=(S1,), grid=g))
    assert (slots(free), free.carbon_kg) == ({0: 100.0}, pytest.approx(20.0))
    capped = solve(Problem(jobs=(job(),), sites=(S1,), grid=g, carbon_budget_kg=10.0))
    assert slots(capped) == {1: 100.0}
    assert (capped.cost_gbp, capped.carbon_kg) == (pytest.approx(20.0), pytest.approx(10.0))


def test_battery_shifts_cheap_energy_and_ends_where_it_started() -> None:
    # Job only in slot 1 at £0.40. Charging 50 kW at £0.10 in slot 0 stores 40 kWh (80%), which
    # covers 40 of the 50 kWh in slot 1: 50 x 0.10 + 10 x 0.40 = £9 instead of £20.
    bat = Battery(power_kw=50.0, energy_kwh=100.0, soc_kwh=50.0, reserve_kwh=10.0, efficiency=0.8)
    site = Site("S1", "A", capacity_kw=100.0, battery=bat)
    p = Problem(jobs=(job(energy=50.0, earliest=1, deadline=2),), sites=(site,),
                grid=grid([0.10, 0.40, 0.40, 0.40]))
    s = solve(p)
    assert s.cost_gbp == pytest.approx(9.0)
    assert s.battery_kw == {("S1", 0): pytest.approx(-50.0), ("S1", 1): pytest.approx(40.0)}


def test_battery_never_dips_below_its_reserve() -> None:
    # Reserve 40 of 50 kWh: only 10 kWh can serve the £0.40 slot; 12.5 kWh recharges it at £0.10.
    bat = Battery(power_kw=50.0, energy_kwh=100.0, soc_kwh=50.0, reserve_kwh=40.0, efficiency=0.8)
    site = Site("S1", "A", capacity_kw=100.0, battery=bat)
    p = Problem(jobs=(job(energy=50.0, earliest=0, deadline=1),), sites=(site,),
                grid=grid([0.40, 0.10, 0.10, 0.10]))
    s = solve(p)
    assert s.cost_gbp == pytest.approx(40 * 0.40 + 12.5 * 0.10)
    assert s.battery_kw[("S1", 0)] == pytest.approx(10.0)


def test_fixed_commitments_are_kept() -> None:
    p = Problem(jobs=(job(),), sites=(S1,), grid=grid(PRICE), fixed={("J1", "S1", 3): 50.0})
    s = solve(p)
    assert slots(s) == {1: 50.0, 3: 50.0}
    assert s.cost_gbp == pytest.approx(25.0)


def test_an_infeasible_job_is_reported_unmet_not_a_crash() -> None:
    # 500 kWh at 100 kW in 4 slots: 100 kWh cannot be delivered.
    p = Problem(jobs=(job(energy=500.0),), sites=(S1,), grid=grid(PRICE))
    s = solve(p)
    assert s.unmet_kwh == {"J1": pytest.approx(100.0)}
    assert s.objective == pytest.approx(s.cost_gbp + 100.0 * p.unmet_penalty_gbp_per_kwh)


def test_a_block_that_cannot_fit_is_unmet_whole_and_critical_jobs_go_first() -> None:
    long = job("J1", energy=300.0, earliest=0, deadline=2, interruptible=False)
    crit = job("J2", energy=100.0, critical=True)
    rival = job("J3", energy=400.0)
    s = solve(Problem(jobs=(long, crit, rival), sites=(S1,), grid=grid(PRICE)))
    assert s.unmet_kwh["J1"] == pytest.approx(300.0)
    assert s.unmet_kwh["J2"] == 0.0
    assert s.unmet_kwh["J3"] == pytest.approx(100.0)


def test_commitments_that_cannot_be_kept_make_the_model_infeasible() -> None:
    p = Problem(jobs=(job("J1"), job("J2")), sites=(S1,), grid=grid(PRICE),
                fixed={("J1", "S1", 1): 100.0, ("J2", "S1", 1): 100.0})
    s = solve_exact(p)
    assert s.status == "infeasible"
    assert s.run_kw == {}
    assert s.unmet_kwh == {"J1": 100.0, "J2": 100.0}


def test_battery_never_charges_beyond_its_capacity() -> None:
    # 50 kW battery, 60 kWh, 50 kWh in it, 90% round trip. The job needs 100 kWh in slot 1 at
    # £0.40; power alone would let it store 45 kWh at £0.10 in slot 0, but only 10 kWh fit:
    # it draws 10 / 0.9 = 11.11 kWh then (SoC 60 = full) and gives 10 kWh back in slot 1
    # (ending at its initial 50). £1.111 + 90 x £0.40 = £37.111.
    bat = Battery(power_kw=50.0, energy_kwh=60.0, soc_kwh=50.0, reserve_kwh=10.0, efficiency=0.9)
    site = Site("S1", "A", capacity_kw=100.0, battery=bat)
    p = Problem(jobs=(job(energy=100.0, earliest=1, deadline=2),), sites=(site,),
                grid=grid([0.10, 0.40, 0.40, 0.40]))
    s = solve(p)
    assert s.cost_gbp == pytest.approx(10 / 0.9 * 0.10 + 90 * 0.40)
    assert s.battery_kw == {("S1", 0): pytest.approx(-10 / 0.9), ("S1", 1): pytest.approx(10.0)}


@pytest.mark.parametrize("seed", [1, 6])  # batteries in use; 3 jobs away; 6 leaves energy unmet
def test_energy_is_conserved_on_random_instances(seed: int) -> None:
    """Recomputed here, not by ``violations``: each job's IT energy plus its shortfall is its
    requirement where it ran (migration energy once away from home); every site's grid import
    is its IT load x PUE less the battery's net flow, never negative; each battery's charge
    follows its flows, stays within [floor, capacity] and ends no lower than it began; and
    the reported cost is import x price."""
    from services.planner.optimiser.synthetic import random_problem
    p = random_problem(seed, n_jobs=5, n_sites=3, n_slots=16, slot_hours=1.0)
    s = solve(p)
    dt = p.grid.slot_hours
    for j in p.jobs:
        runs = {site: kw for (jj, site, _t), kw in s.run_kw.items() if jj == j.job_id}
        away = any(site != j.home_site for site in runs)
        need = j.energy_kwh + (j.migration_kwh if away else 0.0)
        delivered = sum(kw * dt for (jj, _s, _t), kw in s.run_kw.items() if jj == j.job_id)
        assert delivered + s.unmet_kwh.get(j.job_id, 0.0) == pytest.approx(need, abs=1e-4)
    cost = 0.0
    for site in p.sites:
        soc = site.battery.soc_kwh if site.battery else 0.0
        for t in range(p.grid.n_slots):
            it = sum(kw for (_j, ss, tt), kw in s.run_kw.items() if ss == site.site_id and tt == t)
            b = s.battery_kw.get((site.site_id, t), 0.0)
            imp = it * site.pue - b
            assert imp >= -1e-6
            assert it <= site.capacity_kw + 1e-6
            cost += imp * dt * p.grid.price[site.zone][t]
            if site.battery is not None:
                soc -= (b * site.battery.efficiency if b < 0 else b) * dt
                assert site.battery.floor_kwh - 1e-6 <= soc <= site.battery.energy_kwh + 1e-6
        if site.battery is not None:
            assert soc >= site.battery.soc_kwh - 1e-6
    assert s.cost_gbp == pytest.approx(cost)
