"""A seeded synthetic fleet of AI-training jobs over data-centre sites in the two traced zones,
and the planning Problem it makes with a set of zone signals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from services.planner.optimiser.model import Grid, Job, Problem, Site, block_profile

SLOT_HOURS = 0.5
ZONES = ("UK-EAST", "UK-NW")
"""The traces cover two regions only, so every site sits in one of these two zones."""

NAMED_SITES = (("cambridge", "UK-EAST", 1.20), ("manchester", "UK-NW", 1.25))


@dataclass(frozen=True)
class FleetSpec:
    """How the fleet is drawn. Jobs arrive uniformly over ``days``; each needs ``power`` kW for
    ``hours`` at full rate and must finish within ``slack`` hours of the earliest possible
    finish. Site IT capacity is ``headroom`` x the peak load its own jobs put on it when each
    runs at home from its arrival (so run-now always fits)."""

    n_jobs: int = 200
    n_sites: int = 2
    days: int = 2
    seed: int = 1
    power_kw: tuple[float, float] = (100.0, 2000.0)
    hours: tuple[float, float] = (1.0, 12.0)
    slack_hours: tuple[float, float] = (0.0, 24.0)
    interruptible_share: float = 0.7
    migratable_share: float = 0.7
    migration_hours: float = 0.25
    """Checkpoint, transfer and restore away from home, as hours at the job's full power."""
    headroom: float = 1.25

    def __post_init__(self) -> None:
        if not 2 <= self.n_sites <= 10:
            raise ValueError(f"n_sites {self.n_sites}: between 2 and 10")
        if self.n_jobs < 1 or self.days < 1:
            raise ValueError("need at least one job and one day")


@dataclass(frozen=True)
class Fleet:
    jobs: tuple[Job, ...]
    sites: tuple[Site, ...]
    n_slots: int
    """Horizon in slots: up to the last deadline (arrivals span ``days``; deadlines run on)."""


def site_plan(n_sites: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """(site id, zone, PUE): Cambridge and Manchester, then sites alternating between the zones."""
    out = list(NAMED_SITES)
    for k in range(len(out), n_sites):
        zone = ZONES[k % 2]
        name = f"{'east' if zone == 'UK-EAST' else 'nw'}-{k + 1}"
        out.append((name, zone, round(float(rng.uniform(1.1, 1.4)), 2)))
    return out[:n_sites]


def make_fleet(spec: FleetSpec) -> Fleet:
    rng = np.random.default_rng(spec.seed)
    plan = site_plan(spec.n_sites, rng)
    site_ids = [s for s, _, _ in plan]
    arrivals_span = spec.days * 24 / SLOT_HOURS
    jobs = []
    for i in range(spec.n_jobs):
        power = round(float(rng.uniform(*spec.power_kw)), -1)
        hours = round(float(rng.uniform(*spec.hours)) * 4) / 4
        slack = round(float(rng.uniform(*spec.slack_hours)) / SLOT_HOURS)
        arrival = int(rng.integers(0, arrivals_span))
        run_slots = math.ceil(hours / SLOT_HOURS - 1e-9)
        jobs.append(Job(
            job_id=f"job-{i:04d}", energy_kwh=round(power * hours, 1), power_kw=power,
            earliest_slot=arrival, deadline_slot=arrival + run_slots + slack,
            home_site=site_ids[int(rng.integers(0, len(site_ids)))],
            interruptible=bool(rng.random() < spec.interruptible_share),
            migratable=bool(rng.random() < spec.migratable_share),
            migration_kwh=round(power * spec.migration_hours, 1)))
    n_slots = max(j.deadline_slot for j in jobs)
    peak = home_peak_kw(jobs, site_ids, n_slots)
    sites = tuple(
        Site(site_id=s, zone=z, pue=pue,
             capacity_kw=float(max(math.ceil(spec.headroom * peak[s] / 100.0) * 100.0,
                                   spec.power_kw[1])))
        for s, z, pue in plan)
    return Fleet(jobs=tuple(sorted(jobs, key=lambda j: (j.earliest_slot, j.job_id))),
                 sites=sites, n_slots=n_slots)


def home_peak_kw(jobs: Sequence[Job], site_ids: Sequence[str], n_slots: int) -> dict[str, float]:
    """Peak IT load per site when every job runs at home at full power from its arrival."""
    load = {s: np.zeros(n_slots) for s in site_ids}
    for j in jobs:
        prof = block_profile(j, j.home_site, SLOT_HOURS)
        load[j.home_site][j.earliest_slot:j.earliest_slot + len(prof)] += prof
    return {s: float(v.max()) for s, v in load.items()}


def make_problem(fleet: Fleet, start: datetime, carbon: Mapping[str, Sequence[float]],
                 price: Mapping[str, Sequence[float]], *,
                 carbon_price_gbp_per_t: float) -> Problem:
    """The fleet's planning Problem on the given per-zone signals (one value per horizon slot)."""
    zones = tuple(sorted({s.zone for s in fleet.sites}))
    for z in zones:
        if len(carbon[z]) < fleet.n_slots or len(price[z]) < fleet.n_slots:
            raise ValueError(f"{z}: signals shorter than the fleet's {fleet.n_slots} slots")
    grid = Grid(zones=zones, slot_hours=SLOT_HOURS, start=start,
                price={z: [float(v) for v in price[z][:fleet.n_slots]] for z in zones},
                carbon={z: [float(v) for v in carbon[z][:fleet.n_slots]] for z in zones})
    return Problem(jobs=fleet.jobs, sites=fleet.sites, grid=grid,
                   carbon_price_gbp_per_t=carbon_price_gbp_per_t)
