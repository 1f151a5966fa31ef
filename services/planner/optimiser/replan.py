"""Re-planning: the rest-of-horizon problem from the current state, keeping what was confirmed.

The new problem's slot 0 is the old ``from_slot``; slots, windows and commitments shift by it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import NamedTuple

from services.planner.optimiser.model import Grid, Job, Problem, Schedule, Site, block_profile

_TOL = 1e-6


def _slice(grid: Grid, from_slot: int) -> Grid:
    def cut(series: Mapping[str, object]) -> dict[str, list[float]]:
        return {z: list(v)[from_slot:] for z, v in series.items()}  # type: ignore[call-overload]

    return Grid(zones=grid.zones, slot_hours=grid.slot_hours,
                start=grid.start + timedelta(hours=grid.slot_hours * from_slot),
                price=cut(grid.price), carbon=cut(grid.carbon),
                offered_kw=None if grid.offered_kw is None else cut(grid.offered_kw))


def _rest_of(job: Job, done: float, owed: float, started: bool, from_slot: int, site: str,
             dt: float) -> Job | None:
    """The job's remaining work from ``from_slot``; None when it is finished.

    ``owed``: migration energy still to spend at ``site`` (a transfer under way): it is added to
    the work and the job stays at ``site``, its new home, until done (moving it on would need a
    different transfer, which one home and one migration energy per job cannot express)."""
    remaining = job.energy_kwh - done
    owed = max(0.0, owed)
    if remaining + owed <= _TOL * max(1.0, job.energy_kwh):
        return None
    earliest = max(0, job.earliest_slot - from_slot)
    deadline = max(0, job.deadline_slot - from_slot)
    rest = replace(job, energy_kwh=remaining + owed, earliest_slot=earliest,
                   deadline_slot=deadline, home_site=site)
    if owed > _TOL:
        rest = replace(rest, migratable=False)
    if not job.interruptible and started:
        # Running: it carries on where it is, from now, without a break.
        length = len(block_profile(replace(rest, migration_kwh=0.0), site, dt))
        rest = replace(rest, earliest_slot=0, deadline_slot=min(deadline, length),
                       migratable=False)
    return rest


def replan(problem: Problem, done_kwh: Mapping[str, float], battery_soc: Mapping[str, float],
           from_slot: int, keep: Mapping[tuple[str, str, int], float], *,
           at_site: Mapping[str, str] | None = None, grid: Grid | None = None,
           carbon_used_kg: float = 0.0, owed_kwh: Mapping[str, float] | None = None) -> Problem:
    """The problem for slots ``from_slot`` onwards.

    ``done_kwh``: IT energy each job has delivered towards its ``energy_kwh`` (migration energy
    not included); finished jobs leave. ``battery_soc``: kWh in each site's battery now (missing:
    the old initial SoC). ``keep``: confirmed (job, site, slot) -> kW commitments, in the old slot
    numbering; with ``problem.fixed`` they become the new ``fixed`` where still possible (the job
    still needs the energy, the slot is in its window and the horizon, the site is allowed, the kW
    within the job's power, the site's capacity and the zone's offered capacity, one site per
    job, and a non-interruptible job's commitments form its block). ``at_site``: where each
    started job is now; missing, a started job is where its commitments are, else at home. A
    started job's site becomes its home: its checkpoint is there, so staying costs no migration
    energy and moving again costs a new one. ``owed_kwh``: migration energy a job has still to
    spend at its site (a transfer under way, from :func:`progress`): it is added to the job's
    remaining work there and the job stays there. A started non-interruptible job must run on
    from slot 0 where it is. ``grid``: a new forecast in the old slot numbering (default: the
    old one). ``carbon_used_kg`` comes off the carbon budget.
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
        owed = float(owed_kwh.get(job.job_id, 0.0)) if owed_kwh is not None else 0.0
        where = job.home_site
        if at_site is not None and job.job_id in at_site:
            where = at_site[job.job_id]
        elif done > _TOL and committed_site.get(job.job_id):
            where = max(committed_site[job.job_id].items(), key=lambda kv: kv[1])[0]
        started = done > _TOL or owed > _TOL or where != job.home_site
        rest = _rest_of(job, done, owed, started, from_slot, where, dt)
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


class Progress(NamedTuple):
    """The state after part of a schedule has run, ready for :func:`replan`."""

    done_kwh: dict[str, float]  # IT energy delivered towards each job's energy_kwh
    battery_soc: dict[str, float]  # kWh in each battery
    at_site: dict[str, str]  # where each job that ran is (its latest slot's site)
    owed_kwh: dict[str, float]  # migration energy still to spend where the job is


def progress(problem: Problem, schedule: Schedule, until_slot: int) -> Progress:
    """The state after running ``schedule`` exactly for slots [0, until_slot)."""
    return progress_of(problem, schedule.run_kw, schedule.battery_kw, until_slot)


def progress_of(problem: Problem, run_kw: Mapping[tuple[str, str, int], float],
                battery_kw: Mapping[tuple[str, int], float], until_slot: int) -> Progress:
    """The state after ``run_kw`` and ``battery_kw`` ran for slots [0, until_slot).

    Away from home the first ``migration_kwh`` delivered is the migration (checkpoint and
    transfer), not the job's work: ``done`` excludes it and, while less has been delivered away
    than the migration needs, the rest is ``owed`` at the site where the job is, so that
    ``replan`` neither loses it nor charges the move twice."""
    dt = problem.grid.slot_hours
    delivered: dict[str, float] = defaultdict(float)
    away: dict[str, float] = defaultdict(float)
    homes = {j.job_id: j.home_site for j in problem.jobs}
    at_site: dict[str, str] = {}
    last: dict[str, int] = {}
    for (j, s, t), kw in run_kw.items():
        if t < until_slot and kw > _TOL:
            delivered[j] += kw * dt
            if s != homes.get(j, s):
                away[j] += kw * dt
            if t >= last.get(j, -1):
                last[j], at_site[j] = t, s
    done: dict[str, float] = {}
    owed: dict[str, float] = {}
    for job in problem.jobs:
        paid = min(job.migration_kwh, away.get(job.job_id, 0.0))
        done[job.job_id] = min(max(0.0, delivered.get(job.job_id, 0.0) - paid), job.energy_kwh)
        where = at_site.get(job.job_id, job.home_site)
        owed[job.job_id] = job.migration_kwh - paid if where != job.home_site else 0.0
    soc: dict[str, float] = {}
    for site in problem.sites:
        if site.battery is None:
            continue
        level = site.battery.soc_kwh
        for t in range(until_slot):
            b = battery_kw.get((site.site_id, t), 0.0)
            level -= (b * site.battery.efficiency if b < 0 else b) * dt
        soc[site.site_id] = level
    return Progress(done, soc, at_site, owed)
