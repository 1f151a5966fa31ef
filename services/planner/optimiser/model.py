"""The planning model: jobs, sites, grid signals, a schedule; how a schedule is scored and checked.

Pure data and arithmetic, no solver. Time is discretised in slots of ``Grid.slot_hours``; slot
``t`` covers ``[start + t*dt, start + (t+1)*dt)``. Semantics are documented in docs/planner.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

UNMET_PENALTY_GBP_PER_KWH = 100.0
"""Default penalty on energy not delivered by a deadline; dwarfs any price x PUE + carbon cost."""

CRITICAL_PENALTY_FACTOR = 10.0
"""A critical job's shortfall costs this many times a normal job's."""

_ABS_TOL = 1e-6
_REL_TOL = 1e-6


@dataclass(frozen=True)
class Battery:
    """A site battery on the grid side of the facility. Round-trip losses are taken on charge."""

    power_kw: float
    energy_kwh: float
    soc_kwh: float
    reserve_kwh: float
    efficiency: float

    @property
    def floor_kwh(self) -> float:
        """Lowest SoC allowed: the reserve, or the initial SoC when it already starts below it."""
        return min(self.reserve_kwh, self.soc_kwh)


@dataclass(frozen=True)
class Site:
    site_id: str
    zone: str
    capacity_kw: float  # IT capacity
    pue: float = 1.0
    battery: Battery | None = None


@dataclass(frozen=True)
class Job:
    job_id: str
    energy_kwh: float  # IT energy still to deliver
    power_kw: float  # IT draw while running at full rate
    earliest_slot: int
    deadline_slot: int  # runs only in [earliest, deadline)
    home_site: str
    interruptible: bool = True  # False: once started runs contiguously at full power
    migratable: bool = True  # False: home site only
    migration_kwh: float = 0.0  # extra IT energy if it runs away from home (checkpoint+transfer)
    critical: bool = False


@dataclass(frozen=True)
class Grid:
    zones: tuple[str, ...]
    slot_hours: float
    start: datetime
    price: Mapping[str, Sequence[float]]  # £/kWh per zone per slot
    carbon: Mapping[str, Sequence[float]]  # gCO2/kWh per zone per slot
    offered_kw: Mapping[str, Sequence[float]] | None = None  # None = unlimited

    @property
    def n_slots(self) -> int:
        return len(self.price[self.zones[0]]) if self.zones else 0


@dataclass(frozen=True)
class Problem:
    jobs: tuple[Job, ...]
    sites: tuple[Site, ...]
    grid: Grid
    carbon_price_gbp_per_t: float = 0.0
    carbon_budget_kg: float | None = None
    # Commitments to keep, (job, site, slot) -> IT kW, e.g. when re-planning.
    fixed: Mapping[tuple[str, str, int], float] = field(default_factory=dict)
    unmet_penalty_gbp_per_kwh: float = UNMET_PENALTY_GBP_PER_KWH


@dataclass(frozen=True)
class Schedule:
    run_kw: Mapping[tuple[str, str, int], float]  # (job, site, slot) -> IT kW, nonzero only
    battery_kw: Mapping[tuple[str, int], float]  # (site, slot) -> +discharge / -charge, grid side
    cost_gbp: float
    carbon_kg: float
    objective: float
    unmet_kwh: Mapping[str, float]  # job -> energy not delivered by its deadline
    status: str
    solve_s: float


def requirement_kwh(job: Job, site_id: str) -> float:
    """IT energy the job needs at this site: its energy, plus migration energy away from home."""
    return job.energy_kwh + (job.migration_kwh if site_id != job.home_site else 0.0)


def window(job: Job, n_slots: int) -> range:
    """Slots the job may run in, clipped to the horizon."""
    return range(max(0, job.earliest_slot), min(job.deadline_slot, n_slots))


def allowed_sites(problem: Problem, job: Job) -> tuple[Site, ...]:
    if job.migratable:
        return problem.sites
    return tuple(s for s in problem.sites if s.site_id == job.home_site)


def block_profile(job: Job, site_id: str, slot_hours: float) -> tuple[float, ...]:
    """A non-interruptible run at a site: full power every slot, the last slot's average covers
    what remains (the job stops part-way through it)."""
    need = requirement_kwh(job, site_id)
    if need <= 0 or job.power_kw <= 0:
        return ()
    per_slot = job.power_kw * slot_hours
    n = max(1, math.ceil(need / per_slot - 1e-9))
    last = need / slot_hours - (n - 1) * job.power_kw
    return (job.power_kw,) * (n - 1) + (last,)


def unmet_weight(problem: Problem, job: Job) -> float:
    factor = CRITICAL_PENALTY_FACTOR if job.critical else 1.0
    return problem.unmet_penalty_gbp_per_kwh * factor


def _exceeds(value: float, bound: float) -> bool:
    return value > bound + _ABS_TOL + _REL_TOL * abs(bound)


def _delivered(problem: Problem, schedule: Schedule
               ) -> tuple[dict[str, float], dict[str, set[str]]]:
    dt = problem.grid.slot_hours
    delivered: dict[str, float] = defaultdict(float)
    sites_used: dict[str, set[str]] = defaultdict(set)
    for (j, s, _t), kw in schedule.run_kw.items():
        delivered[j] += kw * dt
        if abs(kw) > _ABS_TOL:
            sites_used[j].add(s)
    return delivered, sites_used


def needs_kwh(problem: Problem, schedule: Schedule) -> dict[str, float]:
    """IT energy each job needs given where it ran: migration energy counted once per job that
    ran anywhere away from home."""
    _, sites_used = _delivered(problem, schedule)
    out: dict[str, float] = {}
    for job in problem.jobs:
        away = any(s != job.home_site for s in sites_used.get(job.job_id, ()))
        out[job.job_id] = job.energy_kwh + (job.migration_kwh if away else 0.0)
    return out


def shortfall_kwh(problem: Problem, schedule: Schedule) -> dict[str, float]:
    """Energy each job still lacks, computed from run_kw."""
    delivered, _ = _delivered(problem, schedule)
    return {j: max(0.0, need - delivered.get(j, 0.0))
            for j, need in needs_kwh(problem, schedule).items()}


def site_import_kw(problem: Problem, schedule: Schedule) -> dict[tuple[str, int], float]:
    """Grid import per (site, slot): IT kW x PUE - battery_kw (migration energy is IT energy)."""
    pue = {s.site_id: s.pue for s in problem.sites}
    imp: dict[tuple[str, int], float] = defaultdict(float)
    for (_j, s, t), kw in schedule.run_kw.items():
        imp[(s, t)] += kw * pue[s]
    for (s, t), b in schedule.battery_kw.items():
        imp[(s, t)] -= b
    return dict(imp)


def evaluate(problem: Problem, schedule: Schedule) -> tuple[float, float, float]:
    """(cost £, carbon kg, objective) of a schedule, recomputed from run_kw and battery_kw.

    objective = cost + carbon price x t CO2 + penalty x shortfall (critical jobs x10).
    """
    grid, dt = problem.grid, problem.grid.slot_hours
    zone = {s.site_id: s.zone for s in problem.sites}
    cost = carbon_g = 0.0
    for (s, t), kw in site_import_kw(problem, schedule).items():
        kwh = kw * dt
        cost += kwh * grid.price[zone[s]][t]
        carbon_g += kwh * grid.carbon[zone[s]][t]
    carbon_kg = carbon_g / 1000.0
    short = shortfall_kwh(problem, schedule)
    penalty = sum(unmet_weight(problem, j) * short[j.job_id] for j in problem.jobs)
    objective = cost + problem.carbon_price_gbp_per_t * carbon_kg / 1000.0 + penalty
    return cost, carbon_kg, objective


def violations(problem: Problem, schedule: Schedule) -> list[str]:
    """Every constraint the schedule breaks, as readable lines; [] when it is feasible.

    A declared shortfall (``unmet_kwh`` equal to what run_kw leaves undelivered) is not a
    violation: it is the model's answer to an infeasible instance. An undeclared one is.
    """
    out: list[str] = []
    grid, dt, n = problem.grid, problem.grid.slot_hours, problem.grid.n_slots
    jobs = {j.job_id: j for j in problem.jobs}
    sites = {s.site_id: s for s in problem.sites}

    per_job_slot_sites: dict[tuple[str, int], set[str]] = defaultdict(set)
    it_load: dict[tuple[str, int], float] = defaultdict(float)
    for (j, s, t), kw in schedule.run_kw.items():
        if j not in jobs or s not in sites:
            out.append(f"run {j}@{s} slot {t}: unknown job or site")
            continue
        job = jobs[j]
        if not 0 <= t < n:
            out.append(f"run {j}@{s} slot {t}: outside the horizon [0, {n})")
        if t < job.earliest_slot or t >= job.deadline_slot:
            out.append(f"run {j}@{s} slot {t}: outside window "
                       f"[{job.earliest_slot}, {job.deadline_slot})")
        if kw < -_ABS_TOL or _exceeds(kw, job.power_kw):
            out.append(f"run {j}@{s} slot {t}: {kw:.6g} kW outside [0, {job.power_kw:g}]")
        if not job.migratable and s != job.home_site:
            out.append(f"run {j}@{s} slot {t}: non-migratable job away from home {job.home_site}")
        if abs(kw) > _ABS_TOL:
            per_job_slot_sites[(j, t)].add(s)
        it_load[(s, t)] += kw

    for (j, t), ss in per_job_slot_sites.items():
        if len(ss) > 1:
            out.append(f"job {j} slot {t}: runs at several sites {sorted(ss)}")

    for (s, t), kw in it_load.items():
        if s in sites and _exceeds(kw, sites[s].capacity_kw):
            out.append(f"site {s} slot {t}: IT {kw:.6g} kW over capacity {sites[s].capacity_kw:g}")

    for job in problem.jobs:
        runs = sorted((t, kw, s) for (j, s, t), kw in schedule.run_kw.items()
                      if j == job.job_id and abs(kw) > _ABS_TOL)
        if job.interruptible or not runs:
            continue
        slots = [t for t, _, _ in runs]
        if slots != list(range(slots[0], slots[0] + len(slots))) or len({s for *_, s in runs}) > 1:
            out.append(f"job {job.job_id}: non-interruptible run not contiguous at one site")
        tol = _ABS_TOL + _REL_TOL * job.power_kw
        if any(abs(kw - job.power_kw) > tol for _, kw, _ in runs[:-1]):
            out.append(f"job {job.job_id}: non-interruptible run not at full power")

    imports = site_import_kw(problem, schedule)
    for (s, t), kw in imports.items():
        if kw < -_ABS_TOL - _REL_TOL * sites[s].capacity_kw * sites[s].pue:
            out.append(f"site {s} slot {t}: exports {-kw:.6g} kW (import must be >= 0)")
    if grid.offered_kw is not None:
        zone_load: dict[tuple[str, int], float] = defaultdict(float)
        for (s, t), kw in imports.items():
            zone_load[(sites[s].zone, t)] += kw
        for (z, t), kw in zone_load.items():
            offered = grid.offered_kw.get(z)
            if offered is not None and 0 <= t < len(offered) and _exceeds(kw, offered[t]):
                out.append(f"zone {z} slot {t}: import {kw:.6g} kW over offered {offered[t]:g}")

    for (s, t), b in schedule.battery_kw.items():
        site = sites.get(s)
        if site is None or site.battery is None:
            if abs(b) > _ABS_TOL:
                out.append(f"battery {s} slot {t}: site has no battery")
            continue
        if _exceeds(abs(b), site.battery.power_kw):
            out.append(f"battery {s} slot {t}: {b:.6g} kW over power {site.battery.power_kw:g}")
    for site in problem.sites:
        bat = site.battery
        if bat is None:
            continue
        soc = bat.soc_kwh
        for t in range(n):
            b = schedule.battery_kw.get((site.site_id, t), 0.0)
            soc += (-b * bat.efficiency if b < 0 else -b) * dt
            if _exceeds(soc, bat.energy_kwh):
                out.append(f"battery {site.site_id} after slot {t}: SoC {soc:.6g} "
                           f"over {bat.energy_kwh:g} kWh")
            if _exceeds(bat.floor_kwh, soc):
                out.append(f"battery {site.site_id} after slot {t}: SoC {soc:.6g} "
                           f"under reserve {bat.floor_kwh:g}")
        if _exceeds(bat.soc_kwh, soc):
            out.append(f"battery {site.site_id}: ends at {soc:.6g} kWh, "
                       f"below its initial {bat.soc_kwh:g}")

    short = shortfall_kwh(problem, schedule)
    needs = needs_kwh(problem, schedule)
    delivered, _ = _delivered(problem, schedule)
    for job in problem.jobs:
        declared = schedule.unmet_kwh.get(job.job_id, 0.0)
        need = needs[job.job_id]
        tol = _ABS_TOL * 100 + _REL_TOL * max(job.energy_kwh, 1.0)
        if abs(short[job.job_id] - declared) > tol:
            out.append(f"job {job.job_id}: {short[job.job_id]:.6g} kWh undelivered, "
                       f"{declared:.6g} declared unmet")
        if delivered.get(job.job_id, 0.0) > need + tol:
            out.append(f"job {job.job_id}: delivered {delivered[job.job_id]:.6g} kWh, "
                       f"needs {need:.6g}")

    for (j, s, t), kw in problem.fixed.items():
        got = schedule.run_kw.get((j, s, t), 0.0)
        if abs(got - kw) > _ABS_TOL + _REL_TOL * abs(kw):
            out.append(f"fixed {j}@{s} slot {t}: {got:.6g} kW, committed {kw:g}")

    if problem.carbon_budget_kg is not None:
        _, carbon_kg, _ = evaluate(problem, schedule)
        if _exceeds(carbon_kg, problem.carbon_budget_kg):
            out.append(f"carbon {carbon_kg:.6g} kg over budget {problem.carbon_budget_kg:g}")
    return out
