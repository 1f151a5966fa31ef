"""The synthetic fleet: seeded, in the documented ranges, sites in the two traced zones, and
sized so that running every job at home on arrival fits."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from services.evaluate.fleet import FleetSpec, make_fleet, make_problem, site_plan
from services.evaluate.forecasts import Forecaster, load_signals
from services.evaluate.policies import run_now
from services.planner.optimiser.model import violations


def test_fleet_is_reproducible_from_its_seed() -> None:
    assert make_fleet(FleetSpec(n_jobs=30, seed=5)) == make_fleet(FleetSpec(n_jobs=30, seed=5))
    assert make_fleet(FleetSpec(n_jobs=30, seed=5)) != make_fleet(FleetSpec(n_jobs=30, seed=6))


def test_first_sites_are_cambridge_and_manchester_then_alternate_zones() -> None:
    plan = site_plan(5, np.random.default_rng(0))
    assert [(s, z) for s, z, _ in plan[:2]] == [("cambridge", "UK-EAST"),
                                                 ("manchester", "UK-NW")]
    assert [z for _, z, _ in plan] == ["UK-EAST", "UK-NW", "UK-EAST", "UK-NW", "UK-EAST"]


@pytest.mark.parametrize("n_sites", [1, 11])
def test_site_count_is_between_two_and_ten(n_sites: int) -> None:
    with pytest.raises(ValueError):
        FleetSpec(n_sites=n_sites)


def test_jobs_are_within_the_documented_ranges() -> None:
    fleet = make_fleet(FleetSpec(n_jobs=200, n_sites=3, days=2))
    sites = {s.site_id for s in fleet.sites}
    for j in fleet.jobs:
        hours = j.energy_kwh / j.power_kw
        assert 100 <= j.power_kw <= 2000 and 1 <= hours <= 12
        assert 0 <= j.earliest_slot < 96
        run_slots = -(-hours // 0.5)
        assert run_slots <= j.deadline_slot - j.earliest_slot <= run_slots + 48
        assert j.home_site in sites
    assert fleet.n_slots == max(j.deadline_slot for j in fleet.jobs)
    mix = {(j.interruptible, j.migratable) for j in fleet.jobs}
    assert len(mix) == 4


def test_run_now_fits_the_sized_capacity() -> None:
    fleet = make_fleet(FleetSpec(n_jobs=120, n_sites=4, days=1, seed=3))
    sig = load_signals(date(2023, 6, 12), fleet.n_slots)
    p = make_problem(fleet, sig.start, {z: sig.horizon_carbon(z) for z in sig.zones},
                     {z: sig.horizon_price(z) for z in sig.zones}, carbon_price_gbp_per_t=0.0)
    out = run_now(p, Forecaster(sig, "perfect"))
    assert violations(p, out.schedule) == []
    assert sum(out.schedule.unmet_kwh.values()) == 0.0
    for (j, s, _t) in out.schedule.run_kw:
        assert s == next(x.home_site for x in fleet.jobs if x.job_id == j)
