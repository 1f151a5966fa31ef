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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from contracts.events import JobSubmitted, SiteRegistered
from services.planner.domain import OfferedWindow
from services.planner.optimiser.model import Grid, Job, Problem, Schedule, Site
from services.planner.optimiser.replan import replan

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


# ---- re-planning the rest of the day --------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A part running at a site at constant IT power over [start, end): ``moved`` when the
    load-shifter started it there (its moves carry no checkpoint or transfer energy)."""

    job_id: str
    part_id: str
    site_id: str
    start: datetime
    end: datetime
    power_kw: float
    moved: bool = False


@dataclass(frozen=True)
class Command:
    """What the re-plan needs of a load-shifter command: pause or start a part over a span."""

    action: str  # "pause_job" | "start_job"
    job_id: str
    part_id: str
    site_id: str
    start: datetime
    end: datetime
    power_kw: float


def current_plan(runs: Sequence[Run], commands: Sequence[Command]) -> list[Span]:
    """The ordered runs as the load-shifter's commands left them, in command start order: a
    pause cuts the part at its site over the paused span (planned or moved there before), a
    start adds the part at the new site."""
    spans = [Span(r.job_id, r.part_id, r.site_id, r.start, r.end, r.power_kw) for r in runs]
    for c in sorted(commands, key=lambda c: (c.start, c.action != "pause_job", c.site_id)):
        if c.action == "start_job":
            spans.append(Span(c.job_id, c.part_id, c.site_id, c.start, c.end, c.power_kw,
                              moved=True))
            continue
        if c.action != "pause_job":
            continue
        out = []
        for s in spans:
            hit = ((s.job_id, s.part_id, s.site_id) == (c.job_id, c.part_id, c.site_id)
                   and s.start < c.end and s.end > c.start)
            if not hit:
                out.append(s)
                continue
            if s.start < c.start:
                out.append(Span(s.job_id, s.part_id, s.site_id, s.start, c.start, s.power_kw,
                                s.moved))
            if c.end < s.end:
                out.append(Span(s.job_id, s.part_id, s.site_id, c.end, s.end, s.power_kw,
                                s.moved))
        spans = out
    return sorted(spans, key=lambda s: (s.job_id, s.part_id, s.start, s.site_id))


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 3600)


@dataclass(frozen=True)
class PlanState:
    """Where the plan stands at ``cutoff``, in the optimiser's terms (see ``replan``)."""

    done_kwh: dict[str, float]
    at_site: dict[str, str]
    owed_kwh: dict[str, float]
    keep: dict[tuple[str, str, int], float]  # commitments from the cutoff on, per slot


def state_at(problem: Problem, slots: Slots, spans: Sequence[Span], from_slot: int
             ) -> PlanState:
    """Work done before slot ``from_slot`` and the commitments from it on.

    Done: the IT energy each part ran before the cutoff, less the migration energy its own
    order spent away from home (first, up to ``migration_kwh``); energy the load-shifter
    moved runs as work. A part is at the site it ran at last; when that is an ordered site
    away from home whose migration is not yet paid, the rest is owed there. Commitments are
    the spans after the cutoff, as average kW per slot."""
    cutoff = slots.at(from_slot)
    jobs = {j.job_id: j for j in problem.jobs}
    delivered: dict[str, float] = {}
    planned_away: dict[str, float] = {}
    last: dict[str, Span] = {}
    keep: dict[tuple[str, str, int], float] = {}
    dt = slots.step.total_seconds() / 3600
    for s in spans:
        key = part_key(s.job_id, s.part_id)
        job = jobs.get(key)
        if job is None:
            continue
        before = s.power_kw * _hours(s.start, min(s.end, cutoff))
        if before > EPS:
            delivered[key] = delivered.get(key, 0.0) + before
            if not s.moved and s.site_id != job.home_site:
                planned_away[key] = planned_away.get(key, 0.0) + before
            if key not in last or min(s.end, cutoff) > min(last[key].end, cutoff):
                last[key] = s
        for i in range(max(from_slot, slots.index(s.start)), slots.index(s.end, up=True)):
            a, b = max(s.start, slots.at(i)), min(s.end, slots.at(i + 1))
            kw = s.power_kw * _hours(a, b) / dt
            if kw > EPS:
                k = (key, s.site_id, i)
                keep[k] = keep.get(k, 0.0) + kw
    done, at_site, owed = {}, {}, {}
    for key, job in jobs.items():
        paid = min(job.migration_kwh, planned_away.get(key, 0.0))
        done[key] = min(job.energy_kwh, max(0.0, delivered.get(key, 0.0) - paid))
        owed[key] = 0.0
        if key in last:
            s = last[key]
            at_site[key] = s.site_id
            if not s.moved and s.site_id != job.home_site:
                owed[key] = job.migration_kwh - paid
    return PlanState(done, at_site, owed, {k: round(v, 9) for k, v in keep.items()})


def with_stress(grid: Grid, slots: Slots, zone: str, start: datetime, end: datetime,
                carbon_g_per_kwh: float, price_delta_gbp_per_kwh: float) -> Grid:
    """The grid with a stress event's signal in force in its zone over [start, end): its
    carbon intensity, and the price plus its surcharge (a slot it covers in part gets the
    time-weighted mix)."""
    if zone not in grid.zones:
        return grid
    dt = slots.step.total_seconds() / 3600
    price = list(grid.price[zone])
    carbon = list(grid.carbon[zone])
    for i in range(slots.index(start), min(slots.index(end, up=True), len(price))):
        share = _hours(max(start, slots.at(i)), min(end, slots.at(i + 1))) / dt
        price[i] += share * price_delta_gbp_per_kwh
        carbon[i] = (1 - share) * carbon[i] + share * carbon_g_per_kwh
    return Grid(zones=grid.zones, slot_hours=grid.slot_hours, start=grid.start,
                price={**grid.price, zone: tuple(price)},
                carbon={**grid.carbon, zone: tuple(carbon)}, offered_kw=grid.offered_kw)


@dataclass(frozen=True)
class Replanned:
    """A re-plan's outcome: new runs to order (the rest of the horizon only), the commitments
    kept and those that could not be (they still run: nothing withdraws a placement), and
    energy that still cannot be placed by its deadline."""

    runs: tuple[Run, ...]
    kept: int
    dropped: tuple[tuple[str, str, int], ...]
    unmet_kwh: dict[str, float]
    status: str


PIN = "#pinned@"


def replan_rest(problem: Problem, slots: Slots, spans: Sequence[Span], from_slot: int,
                solve: Callable[[Problem], Schedule]) -> Replanned:
    """Re-optimise slots ``from_slot`` onwards from the plan's state (``optimiser.replan``),
    keeping every commitment it can; return only the work to add.

    A commitment ``replan`` cannot keep (say, a part left running at two sites) still runs,
    so its part is not re-planned: its commitments are pinned as fixed load that uses site
    and zone capacity, and its other work is left as it is."""
    state = state_at(problem, slots, spans, from_slot)
    rest = replan(problem, state.done_kwh, {}, from_slot, state.keep, at_site=state.at_site,
                  owed_kwh=state.owed_kwh)
    shifted = {(j, s, t - from_slot): kw for (j, s, t), kw in state.keep.items()}
    dropped = tuple(sorted(k for k in shifted if k not in rest.fixed))
    if dropped:
        loose = {j for j, _s, _t in dropped}
        jobs = [j for j in rest.jobs if j.job_id not in loose]
        fixed = {k: kw for k, kw in rest.fixed.items() if k[0] not in loose}
        for (j, s, t), kw in sorted(shifted.items()):
            if j not in loose:
                continue
            pin = f"{j}{PIN}{s}/{t}"
            jobs.append(Job(job_id=pin, energy_kwh=kw * problem.grid.slot_hours, power_kw=kw,
                            earliest_slot=t, deadline_slot=t + 1, home_site=s,
                            migratable=False, critical=True))
            fixed[(pin, s, t)] = kw
        rest = replace(rest, jobs=tuple(jobs), fixed=fixed)
    schedule = solve(rest)
    new = {k: kw - rest.fixed.get(k, 0.0) for k, kw in schedule.run_kw.items()
           if PIN not in k[0] and kw - rest.fixed.get(k, 0.0) > EPS}
    later = Slots(slots.at(from_slot), slots.step, slots.count - from_slot)
    extra = Schedule(run_kw=new, battery_kw={}, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                     unmet_kwh={}, status=schedule.status, solve_s=schedule.solve_s)
    unmet = {j: kwh for j, kwh in schedule.unmet_kwh.items() if PIN not in j and kwh > EPS}
    kept = sum(1 for k in rest.fixed if PIN not in k[0])
    return Replanned(tuple(runs_of(extra, later)), kept, dropped, unmet, schedule.status)
