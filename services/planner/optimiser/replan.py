"""Re-planning: the rest-of-horizon problem from the current state, keeping what was confirmed.

The new problem's slot 0 is the old ``from_slot``; slots, windows and commitments shift by it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from services.planner.optimiser.model import Grid, Job, Problem, Schedule, Site, block_profile

_TOL = 1e-6


def _slice(grid: Grid, from_slot: int) -> Grid:
    def cut(series: Mapping[str, object]) -> dict[str, list[float]]:
        return {z: list(v)[from_slot:] for z, v in series.items()}  # type: ignore[call-overload]

    return Grid(zones=grid.zones, slot_hours=grid.slot_hours,
                start=grid.start + timedelta(hours=grid.slot_hours * from_slot),
                price=cut(grid.price), carbon=cut(grid.carbon),
                offered_kw=None if grid.offered_kw is None else cut(grid.offered_kw))


def _rest_of(job: Job, done: float, from_slot: int, site: str, dt: float) -> Job | None:
    """The job's remaining work from ``from_slot``; None when it is finished."""
    remaining = job.energy_kwh - done
    if remaining <= _TOL * max(1.0, job.energy_kwh):
        return None
    earliest = max(0, job.earliest_slot - from_slot)
    deadline = max(0, job.deadline_slot - from_slot)
    rest = replace(job, energy_kwh=remaining, earliest_slot=earliest, deadline_slot=deadline,
                   home_site=site)
    if not job.interruptible and done > _TOL:
        # Running: it carries on where it is, from now, without a break.
        length = len(block_profile(replace(rest, migration_kwh=0.0), site, dt))
        rest = replace(rest, earliest_slot=0, deadline_slot=min(deadline, length),
                       migratable=False)
    return rest


def replan(problem: Problem, done_kwh: Mapping[str, float], battery_soc: Mapping[str, float],
           from_slot: int, keep: Mapping[tuple[str, str, int], float], *,
           at_site: Mapping[str, str] | None = None, grid: Grid | None = None,
           carbon_used_kg: float = 0.0) -> Problem:
    """The problem for slots ``from_slot`` onwards.

    ``done_kwh``: IT energy each job has delivered towards its ``energy_kwh`` (migration energy
    not included); finished jobs leave. ``battery_soc``: kWh in each site's battery now (missing:
    the old initial SoC). ``keep``: confirmed (job, site, slot) -> kW commitments, in the old slot
    numbering; with ``problem.fixed`` they become the new ``fixed`` where still possible (the job
    still needs the energy, the slot is in its window and the horizon, the site is allowed, the kW
    within the job's power, the site's capacity and the zone's offered capacity, one site per
    job, and a non-interruptible job's commitments form its block). ``at_site``: where each
    started job is now (its new home, so moving again costs migration energy); missing, a
    started job is where its commitments are, else at home. A started non-interruptible job must
    run on from slot 0 where it is. ``grid``: a new forecast in the old slot numbering (default:
    the old one). ``carbon_used_kg`` comes off the carbon budget.
    """
    dt = problem.grid.slot_hours
    source = grid if grid is not None else problem.grid
    new_grid = _slice(source, from_slot)
    n = new_grid.n_slots
    sites = {s.site_id: s for s in problem.sites}
    commitments = {**problem.fixed, **keep}

    committed_site: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (j, s, t), kw in commitments.items():
        if t >= from_slot and kw > _TOL:
            committed_site[j][s] += kw
    jobs: list[Job] = []
    for job in problem.jobs:
        done = float(done_kwh.get(job.job_id, 0.0))
        where = job.home_site
        if at_site is not None and job.job_id in at_site:
            where = at_site[job.job_id]
        elif done > _TOL and committed_site.get(job.job_id):
            where = max(committed_site[job.job_id].items(), key=lambda kv: kv[1])[0]
        rest = _rest_of(job, done, from_slot, where, dt)
        if rest is not None:
            jobs.append(rest)

    new_sites = tuple(
        replace(s, battery=replace(s.battery, soc_kwh=float(battery_soc.get(s.site_id,
                                                                            s.battery.soc_kwh))))
        if s.battery is not None else s for s in problem.sites)

    fixed = _keepable(jobs, sites, new_grid, commitments, from_slot, n, dt)
    budget = problem.carbon_budget_kg
    if budget is not None:
        budget = max(0.0, budget - carbon_used_kg)
    return replace(problem, jobs=tuple(jobs), sites=new_sites, grid=new_grid, fixed=fixed,
                   carbon_budget_kg=budget)


def _keepable(jobs: list[Job], sites: Mapping[str, Site], grid: Grid,
              commitments: Mapping[tuple[str, str, int], float], from_slot: int, n: int,
              dt: float) -> dict[tuple[str, str, int], float]:
    by_id = {j.job_id: j for j in jobs}
    per_job: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    for (j, s, t), kw in commitments.items():
        t_new = t - from_slot
        job = by_id.get(j)
        if job is None or s not in sites or not 0 <= t_new < n or kw <= _TOL:
            continue
        if not job.earliest_slot <= t_new < job.deadline_slot or kw > job.power_kw + _TOL:
            continue
        if not job.migratable and s != job.home_site:
            continue
        per_job[j][(s, t_new)] = kw

    kept: dict[tuple[str, str, int], float] = {}
    it_load: dict[tuple[str, int], float] = defaultdict(float)
    zone_load: dict[tuple[str, int], float] = defaultdict(float)
    for j in sorted(per_job, key=lambda j: (by_id[j].migratable, j)):
        job = by_id[j]
        entries = per_job[j]
        energy: dict[str, float] = defaultdict(float)
        for (s, _t), kw in entries.items():
            energy[s] += kw
        site_id = max(energy.items(), key=lambda kv: (kv[1], kv[0] == job.home_site))[0]
        mine = sorted((t, kw) for (s, t), kw in entries.items() if s == site_id)
        need = job.energy_kwh + (job.migration_kwh if site_id != job.home_site else 0.0)
        if not job.interruptible:
            prof = block_profile(job, site_id, dt)
            start = mine[0][0]
            if any(t != start + o or abs(kw - prof[o]) > 1e-6 * max(1.0, kw)
                   for o, (t, kw) in enumerate(mine)) or len(mine) > len(prof):
                continue
        site = sites[site_id]
        offered = grid.offered_kw.get(site.zone) if grid.offered_kw is not None else None
        take: list[tuple[int, float]] = []
        total = 0.0
        for t, kw in mine:
            fits_site = it_load[(site_id, t)] + kw <= site.capacity_kw + _TOL
            fits_zone = (offered is None
                         or zone_load[(site.zone, t)] + kw * site.pue <= offered[t] + _TOL)
            if not (fits_site and fits_zone) or total + kw * dt > need + _TOL:
                if not job.interruptible:
                    take = []
                    break
                continue
            take.append((t, kw))
            total += kw * dt
        for t, kw in take:
            kept[(j, site_id, t)] = kw
            it_load[(site_id, t)] += kw
            zone_load[(site.zone, t)] += kw * site.pue
    return kept


def progress(problem: Problem, schedule: Schedule, until_slot: int
             ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """The state after running ``schedule`` exactly for slots [0, until_slot): (done_kwh,
    battery_soc, at_site), ready for :func:`replan`. Away from home, the migration energy is
    spent first and does not count as done."""
    dt = problem.grid.slot_hours
    delivered: dict[str, float] = defaultdict(float)
    at_site: dict[str, str] = {}
    last: dict[str, int] = {}
    for (j, s, t), kw in schedule.run_kw.items():
        if t < until_slot and kw > _TOL:
            delivered[j] += kw * dt
            if t >= last.get(j, -1):
                last[j], at_site[j] = t, s
    done: dict[str, float] = {}
    for job in problem.jobs:
        got = delivered.get(job.job_id, 0.0)
        if job.job_id in at_site and at_site[job.job_id] != job.home_site:
            got = max(0.0, got - job.migration_kwh)
        done[job.job_id] = min(got, job.energy_kwh)
    soc: dict[str, float] = {}
    for site in problem.sites:
        if site.battery is None:
            continue
        level = site.battery.soc_kwh
        for t in range(until_slot):
            b = schedule.battery_kw.get((site.site_id, t), 0.0)
            level -= (b * site.battery.efficiency if b < 0 else b) * dt
        soc[site.site_id] = level
    return done, soc, at_site
