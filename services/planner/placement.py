"""From discovered windows and submitted batches to an optimiser problem, and from its
schedule back to what CompFlex orders and runs (pure).

Every part of a batch is an optimiser job: critical parts run contiguously, non-critical ones
may be interrupted; non-migratable parts stay at their batch's home site; running away from
home costs `migration_h` hours of the part's power in checkpoint and transfer energy. The grid
offered in each zone is exactly the discovered windows (price, carbon, capacity); the planner
leaves site batteries to the load-shifter. The schedule becomes, per site, contiguous runs per
part (placements) and, per discovered window, constant-load segments (order lines).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.events import JobSubmitted, SiteRegistered
from services.planner.domain import OfferedWindow
from services.planner.optimiser.model import Grid, Job, Problem, Schedule, Site

EPS = 1e-6


@dataclass(frozen=True)
class Slots:
    start: datetime
    step: timedelta
    count: int

    def at(self, i: int) -> datetime:
        return self.start + i * self.step

    def index(self, t: datetime, *, up: bool = False) -> int:
        x = (t - self.start) / self.step
        return max(0, min(self.count, math.ceil(x - 1e-9) if up else math.floor(x + 1e-9)))


@dataclass(frozen=True)
class Run:
    """A part running at a site at constant IT power over [start, end)."""

    job_id: str
    part_id: str
    site_id: str
    start: datetime
    end: datetime
    power_kw: float


@dataclass(frozen=True)
class Line:
    """A constant total load at a site within one discovered window."""

    site_id: str
    window: OfferedWindow
    start: datetime
    end: datetime
    load_kw: float
    gpu_hours: float
    job_ids: tuple[str, ...]


def part_key(job_id: str, part_id: str) -> str:
    return f"{job_id}/{part_id}"


def build_problem(jobs: Sequence[JobSubmitted], sites: Sequence[SiteRegistered],
                  windows: Sequence[OfferedWindow], now: datetime, step: timedelta,
                  carbon_price_gbp_per_t: float, migration_h: float) -> tuple[Problem, Slots]:
    horizon_end = max([w.end for w in windows] + [j.deadline for j in jobs])
    start = now.replace(minute=0, second=0, microsecond=0)
    slots = Slots(start, step, math.ceil((horizon_end - start) / step))
    zones = tuple(sorted({s.zone for s in sites}))
    price = {z: [0.0] * slots.count for z in zones}
    carbon = {z: [0.0] * slots.count for z in zones}
    offered = {z: [0.0] * slots.count for z in zones}
    for w in windows:
        if w.zone not in price:
            continue
        for i in range(slots.index(w.start, up=True), slots.index(w.end)):
            price[w.zone][i] = w.price_gbp_per_kwh
            carbon[w.zone][i] = w.carbon_g_per_kwh
            offered[w.zone][i] = w.capacity_kw
    grid = Grid(zones=zones, slot_hours=step.total_seconds() / 3600, start=start,
                price={z: tuple(v) for z, v in price.items()},
                carbon={z: tuple(v) for z, v in carbon.items()},
                offered_kw={z: tuple(v) for z, v in offered.items()})
    opt_jobs = []
    for j in jobs:
        home = j.home_site or sorted(s.site_id for s in sites)[0]
        for p in j.parts:
            opt_jobs.append(Job(
                job_id=part_key(j.job_id, p.part_id), energy_kwh=p.power_kw * j.duration_h,
                power_kw=p.power_kw, earliest_slot=slots.index(j.earliest_start, up=True),
                deadline_slot=slots.index(j.deadline), home_site=home,
                interruptible=not p.critical, migratable=p.migratable,
                migration_kwh=p.power_kw * migration_h if j.home_site else 0.0,
                critical=p.critical))
    opt_sites = tuple(Site(site_id=s.site_id, zone=s.zone, capacity_kw=s.it_capacity_kw)
                      for s in sorted(sites, key=lambda s: s.site_id))
    return Problem(jobs=tuple(opt_jobs), sites=opt_sites, grid=grid,
                   carbon_price_gbp_per_t=carbon_price_gbp_per_t), slots


def runs_of(schedule: Schedule, slots: Slots) -> list[Run]:
    """Contiguous constant-power runs per part and site."""
    by: dict[tuple[str, str], dict[int, float]] = {}
    for (job, site, t), kw in schedule.run_kw.items():
        if kw > EPS:
            by.setdefault((job, site), {})[t] = kw
    runs = []
    for (job, site), series in sorted(by.items()):
        job_id, part_id = job.split("/", 1)
        ts = sorted(series)
        first = ts[0]
        for a, b in zip(ts, ts[1:] + [None], strict=True):
            if b is None or b != a + 1 or abs(series[b] - series[a]) > EPS:
                runs.append(Run(job_id, part_id, site, slots.at(first), slots.at(a + 1),
                                round(series[a], 6)))
                first = b if b is not None else first
    return runs


def lines_of(runs: Sequence[Run], windows: Sequence[OfferedWindow], zone_of: dict[str, str],
             gpus_per_kw: dict[str, float]) -> list[Line]:
    """Per site and discovered window, the maximal spans of constant total load."""
    lines = []
    for site in sorted({r.site_id for r in runs}):
        here = [r for r in runs if r.site_id == site]
        for w in sorted((w for w in windows if w.zone == zone_of[site]), key=lambda w: w.start):
            marks = sorted({w.start, w.end, *(t for r in here for t in (r.start, r.end)
                                              if w.start < t < w.end)})
            spans = []
            for a, b in zip(marks, marks[1:], strict=False):
                active = [r for r in here if r.start <= a and r.end >= b]
                load = round(sum(r.power_kw for r in active), 6)
                if load <= EPS:
                    continue
                gpu_h = sum(r.power_kw * gpus_per_kw[part_key(r.job_id, r.part_id)]
                            for r in active) * (b - a).total_seconds() / 3600
                jobs = tuple(sorted({r.job_id for r in active}))
                if spans and spans[-1][1] == a and spans[-1][2] == load and spans[-1][4] == jobs:
                    s0 = spans.pop()
                    spans.append((s0[0], b, load, s0[3] + gpu_h, jobs))
                else:
                    spans.append((a, b, load, gpu_h, jobs))
            lines += [Line(site, w, a, b, load, round(g, 3), jobs) for a, b, load, g, jobs in spans]
    return lines
