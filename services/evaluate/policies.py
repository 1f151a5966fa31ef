"""Placement policies compared by the evaluation, each turning the same Problem into a Schedule.

A policy decides only on ``Forecaster.issue(t)`` (what is known at slot t) and on the jobs that
have arrived by t; it reads the Problem's jobs, sites, horizon and offered grid capacity, never
its price and carbon series, which are the actual ones the schedule is scored on (``scored``).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from services.evaluate.forecasts import DAY_SLOTS, Forecast, Forecaster
from services.planner.optimiser.model import (
    Grid,
    Job,
    Problem,
    Schedule,
    allowed_sites,
    block_profile,
    evaluate,
    shortfall_kwh,
)

Run = dict[tuple[str, str, int], float]
_TOL_KW = 1e-6
DONE_KWH = 1e-3
"""A job with less than this left to deliver is finished; more is a deadline miss."""


@dataclass(frozen=True)
class SolverOptions:
    """Which optimiser degflex uses per solve: ``planner`` (the degflex planner: the fast
    heuristic, then the exact MILP seeded with it when the model is small enough, within
    ``time_limit_s``), ``exact`` (the MILP alone) or ``fast`` (the heuristic alone).
    ``max_exact_nonzeros`` overrides the planner's size limit for the MILP polish."""

    solver: str = "planner"
    time_limit_s: float = 5.0
    mip_gap: float = 1e-4
    max_exact_nonzeros: int | None = None


@dataclass(frozen=True)
class PolicyRun:
    schedule: Schedule  # scored on the actual signals
    solver: str  # "heuristic", or the optimiser(s) used and how often
    solves: int
    runtime_s: float


def scored(problem: Problem, run: Mapping[tuple[str, str, int], float], status: str,
           solve_s: float) -> Schedule:
    """A Schedule of ``run`` on ``problem`` (the actual signals), its shortfall declared."""
    run = {k: float(v) for k, v in run.items() if v > _TOL_KW}
    draft = Schedule(run_kw=run, battery_kw={}, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                     unmet_kwh={}, status=status, solve_s=solve_s)
    unmet = shortfall_kwh(problem, draft)
    draft = replace(draft, unmet_kwh=unmet)
    cost, carbon, objective = evaluate(problem, draft)
    return replace(draft, cost_gbp=cost, carbon_kg=carbon, objective=objective)


class _Ledger:
    """Free IT capacity per site and slot, and the run being built."""

    def __init__(self, problem: Problem) -> None:
        self.n = problem.grid.n_slots
        self.dt = problem.grid.slot_hours
        self.free = {s.site_id: np.full(self.n, s.capacity_kw, dtype=float)
                     for s in problem.sites}
        self.run: Run = {}

    def fits(self, site: str, start: int, profile: tuple[float, ...], deadline: int) -> bool:
        end = start + len(profile)
        return (start >= 0 and end <= min(deadline, self.n)
                and bool(np.all(self.free[site][start:end] >= np.asarray(profile) - 1e-9)))

    def take(self, job: Job, site: str, slot: int, kw: float) -> None:
        self.free[site][slot] -= kw
        key = (job.job_id, site, slot)
        self.run[key] = self.run.get(key, 0.0) + kw

    def place(self, job: Job, site: str, start: int, profile: tuple[float, ...]) -> None:
        for k, kw in enumerate(profile):
            self.take(job, site, start + k, kw)

    def place_first_fit(self, job: Job, options: Iterable[tuple[str, int]]) -> bool:
        """The first (site, start) in ``options`` where the job's full-power block fits."""
        for site, start in options:
            prof = block_profile(job, site, self.dt)
            if self.fits(site, start, prof, job.deadline_slot):
                self.place(job, site, start, prof)
                return True
        return False

    def place_late(self, job: Job) -> None:
        """At home, the earliest start where the block fits; failing that, as much as fits
        before the deadline (the rest is a miss)."""
        home, lo, hi = job.home_site, max(job.earliest_slot, 0), min(job.deadline_slot, self.n)
        if self.place_first_fit(job, ((home, s) for s in range(lo, hi))):
            return
        need, power = job.energy_kwh, job.power_kw
        if job.interruptible:
            for t in range(lo, hi):
                kw = min(power, self.free[home][t], need / self.dt)
                if kw > _TOL_KW:
                    self.take(job, home, t, kw)
                    need -= kw * self.dt
            return
        best = (0, lo)
        for s in range(lo, hi):
            k = 0
            free = self.free[home]
            while s + k < hi and free[s + k] >= power - 1e-9 and k * power * self.dt < need:
                k += 1
            best = max(best, (k, -s))
        k, s = best[0], -best[1]
        for t in range(s, s + k):
            kw = min(power, need / self.dt)
            self.take(job, home, t, kw)
            need -= kw * self.dt


def _arrival_order(problem: Problem) -> list[Job]:
    return sorted(problem.jobs, key=lambda j: (j.earliest_slot, j.job_id))


def _timed(problem: Problem, name: str, build: Callable[[], Run]) -> PolicyRun:
    t0 = time.perf_counter()
    run = build()
    elapsed = time.perf_counter() - t0
    return PolicyRun(schedule=scored(problem, run, name, elapsed), solver="heuristic", solves=0,
                     runtime_s=elapsed)


def run_now(problem: Problem, forecaster: Forecaster) -> PolicyRun:
    """Each job at its home site from its arrival, full power until done (later only when its
    site is full)."""
    def build() -> Run:
        led = _Ledger(problem)
        for job in _arrival_order(problem):
            led.place_late(job)
        return led.run
    return _timed(problem, "run-now", build)


def cleanest_site(problem: Problem, forecaster: Forecaster) -> PolicyRun:
    """Each job starts at its arrival at the allowed site whose zone has the lowest intensity
    in the forecast for that slot (ties: home, then site order); the next cleanest when full."""
    zone = {s.site_id: s.zone for s in problem.sites}
    order = {s.site_id: k for k, s in enumerate(problem.sites)}

    def build() -> Run:
        led = _Ledger(problem)
        for job in _arrival_order(problem):
            a = job.earliest_slot
            fc = forecaster.issue(a)
            ranked = sorted((s.site_id for s in allowed_sites(problem, job)),
                            key=lambda s: (fc.carbon[zone[s]][a], s != job.home_site, order[s]))
            if not led.place_first_fit(job, ((s, a) for s in ranked)):
                led.place_late(job)
        return led.run
    return _timed(problem, "cleanest-site", build)


def best_window_starts(carbon: np.ndarray, lo: int, hi: int, length: int) -> list[int]:
    """Starts s in [lo, hi - length] ranked by the mean of carbon[s:s+length] (ties: earliest):
    the Carbon Aware SDK's rule (rolling average of the forecast over the job's duration,
    lowest first)."""
    if length <= 0 or hi - lo < length:
        return []
    means = np.convolve(carbon[lo:hi], np.ones(length) / length, mode="valid")
    return [lo + int(k) for k in np.argsort(means, kind="stable")]


def carbon_aware_sdk(problem: Problem, forecaster: Forecaster) -> PolicyRun:
    """At arrival, each job takes the start in its window with the lowest average forecast
    intensity over its duration, at home (the next best start when the site is full)."""
    zone = {s.site_id: s.zone for s in problem.sites}
    dt = problem.grid.slot_hours

    def build() -> Run:
        led = _Ledger(problem)
        for job in _arrival_order(problem):
            a, home = job.earliest_slot, job.home_site
            fc = forecaster.issue(a)
            length = len(block_profile(job, home, dt))
            starts = best_window_starts(fc.carbon[zone[home]], a,
                                        min(job.deadline_slot, led.n), length)
            if not led.place_first_fit(job, ((home, s) for s in starts)):
                led.place_late(job)
        return led.run
    return _timed(problem, "carbon-aware-sdk", build)


def trailing_median_threshold(forecaster: Forecaster, zone: str, t: int) -> float:
    """The zone's median actual intensity over the day before slot t (known at t); +inf with
    no history."""
    sig = forecaster.signals
    full = sig.carbon[zone]
    hi = sig.history + t
    past = full[max(0, hi - DAY_SLOTS):hi]
    return float(np.median(past)) if len(past) else math.inf


def pause_above_threshold(problem: Problem, forecaster: Forecaster,
                          threshold_g_per_kwh: float | None = None) -> PolicyRun:
    """Jobs run at home. Interruptible ones pause in a slot whose forecast intensity is above
    the threshold (default: the zone's trailing 24 h median), unless pausing would make them
    late: then they run at full power to catch up before the deadline. Non-interruptible jobs
    run as in run-now."""
    zone = {s.site_id: s.zone for s in problem.sites}
    dt = problem.grid.slot_hours

    def build() -> Run:
        led = _Ledger(problem)
        left = {j.job_id: j.energy_kwh for j in problem.jobs if j.interruptible}
        by_arrival = _arrival_order(problem)
        waiting: list[Job] = []
        nxt = 0
        for t in range(led.n):
            while nxt < len(by_arrival) and by_arrival[nxt].earliest_slot <= t:
                waiting.append(by_arrival[nxt])
                nxt += 1
            active = [j for j in waiting if j.deadline_slot > t]
            fc: Forecast | None = None
            urgent, optional, blocks = [], [], []
            for job in active:
                if not job.interruptible:
                    blocks.append(job)
                    continue
                if left[job.job_id] <= DONE_KWH:
                    continue
                need_slots = math.ceil(left[job.job_id] / (job.power_kw * dt) - 1e-9)
                slack = job.deadline_slot - t - need_slots
                (urgent if slack <= 0 else optional).append((slack, job))
            for job in blocks:
                prof = block_profile(job, job.home_site, dt)
                if led.fits(job.home_site, t, prof, job.deadline_slot):
                    led.place(job, job.home_site, t, prof)
                    waiting.remove(job)
                elif job.deadline_slot - t <= len(prof):
                    led.place_late(job)
                    waiting.remove(job)
            for _, job in sorted(urgent, key=lambda x: (x[0], x[1].job_id)):
                _run_slot(led, job, t, left)
            for _, job in sorted(optional, key=lambda x: (x[0], x[1].job_id)):
                z = zone[job.home_site]
                fc = fc or forecaster.issue(t)
                limit = (threshold_g_per_kwh if threshold_g_per_kwh is not None
                         else trailing_median_threshold(forecaster, z, t))
                if fc.carbon[z][t] <= limit:
                    _run_slot(led, job, t, left)
            waiting = [j for j in waiting
                       if not j.interruptible or left[j.job_id] > DONE_KWH]
        return led.run
    return _timed(problem, "pause-above-threshold", build)


def _run_slot(led: _Ledger, job: Job, t: int, left: dict[str, float]) -> None:
    kw = min(job.power_kw, left[job.job_id] / led.dt, led.free[job.home_site][t])
    if kw > _TOL_KW:
        led.take(job, job.home_site, t, kw)
        left[job.job_id] -= kw * led.dt


Solve = Callable[[Problem], Schedule]


def make_solver(opts: SolverOptions) -> Solve:
    """A function solving a Problem with the chosen optimiser."""
    if opts.solver == "planner":
        from services.planner.optimiser.planner import EXACT_MAX_NONZEROS, plan
        limit = opts.max_exact_nonzeros or EXACT_MAX_NONZEROS
        return lambda p: plan(p, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                              max_exact_nonzeros=limit)
    if opts.solver == "exact":
        from services.planner.optimiser.milp import solve_exact
        return lambda p: solve_exact(p, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap)
    if opts.solver == "fast":
        from services.planner.optimiser.fast import solve_fast
        return lambda p: solve_fast(p, time_limit_s=opts.time_limit_s,
                                    budget_s=min(3.0, opts.time_limit_s))
    raise ValueError(f"solver {opts.solver!r}: expected planner, exact or fast")


def _forecast_grid(problem: Problem, fc: Forecast) -> Grid:
    """The problem's grid with the forecast's price and carbon (same slots); the offered grid
    capacity is the problem's (a forecast does not change what the grid offers)."""
    g = problem.grid
    return Grid(zones=g.zones, slot_hours=g.slot_hours, start=g.start,
                price={z: fc.price[z].tolist() for z in g.zones},
                carbon={z: fc.carbon[z].tolist() for z in g.zones},
                offered_kw=g.offered_kw)


def _solver_label(statuses: Mapping[str, int]) -> str:
    """How the solves ended: ``optimal`` = the MILP proved it; ``feasible`` = the fast
    planner's answer (MILP too large, or not better within the limit); ``time_limit`` = the
    MILP's best incumbent."""
    return ", ".join(f"{s} x{n}" for s, n in sorted(statuses.items()))


def degflex_once(problem: Problem, forecaster: Forecaster, solve: Solve,
                 name: str = "degflex") -> PolicyRun:
    """One solve of the whole horizon on the forecast issued at slot 0, with every job known in
    advance (with ``perfect`` forecasts: the perfect-foresight bound)."""
    t0 = time.perf_counter()
    sched = solve(replace(problem, grid=_forecast_grid(problem, forecaster.issue(0))))
    elapsed = time.perf_counter() - t0
    return PolicyRun(schedule=scored(problem, sched.run_kw, f"{name}:{sched.status}", elapsed),
                     solver=_solver_label({sched.status: 1}), solves=1, runtime_s=elapsed)


def decision_slots(problem: Problem, replan_hours: float) -> list[int]:
    """When degflex re-plans: at every job arrival and every ``replan_hours``."""
    n, dt = problem.grid.n_slots, problem.grid.slot_hours
    every = max(1, round(replan_hours / dt))
    return sorted({j.earliest_slot for j in problem.jobs if 0 <= j.earliest_slot < n}
                  | set(range(0, n, every)))


def degflex_rolling(problem: Problem, forecaster: Forecaster, solve: Solve, *,
                    replan_hours: float = 4.0, name: str = "degflex") -> PolicyRun:
    """Rolling horizon: at each decision slot, re-plan the rest of the horizon for the jobs
    that have arrived, from the state the committed runs left (``optimiser.replan``: work done,
    a started non-interruptible run carrying on where it is), on the forecast issued then;
    commit the plan up to the next decision slot.

    A job migrates at most once: once it has run away from home it stays where it is, which
    keeps the stitched schedule inside the model (migration energy is owed once per job)."""
    from services.planner.optimiser.replan import progress_of, replan

    t0 = time.perf_counter()
    n = problem.grid.n_slots
    epochs = decision_slots(problem, replan_hours)
    committed: Run = {}
    away: set[str] = set()
    statuses: dict[str, int] = defaultdict(int)
    home = {j.job_id: j.home_site for j in problem.jobs}
    for k, tau in enumerate(epochs):
        nxt = epochs[k + 1] if k + 1 < len(epochs) else n
        arrived = tuple(replace(j, migratable=False) if j.job_id in away else j
                        for j in problem.jobs if j.earliest_slot <= tau)
        known = replace(problem, jobs=arrived, fixed={})
        state = progress_of(known, committed, {}, tau)  # the fleet has no batteries
        sub = replan(known, state.done_kwh, {}, tau, keep={}, at_site=state.at_site,
                     owed_kwh=state.owed_kwh, grid=_forecast_grid(problem, forecaster.issue(tau)))
        if not sub.jobs:
            continue
        sched = solve(sub)
        statuses[sched.status] += 1
        for (jid, site, t), kw in sched.run_kw.items():
            if tau + t < nxt and kw > _TOL_KW:
                committed[(jid, site, tau + t)] = kw
                if site != home[jid]:
                    away.add(jid)
    elapsed = time.perf_counter() - t0
    return PolicyRun(schedule=scored(problem, committed, f"{name}:rolling", elapsed),
                     solver=_solver_label(statuses), solves=sum(statuses.values()),
                     runtime_s=elapsed)


def time_only(problem: Problem) -> Problem:
    """Sites fixed to home, time free: degflex's temporal gain."""
    return replace(problem, jobs=tuple(replace(j, migratable=False) for j in problem.jobs))


def site_only(problem: Problem) -> Problem:
    """Time fixed (start at arrival, full power, no pause), site free: the spatial gain. A job
    whose run is one slot longer away from home (migration energy) may start one slot later at
    home."""
    dt = problem.grid.slot_hours
    jobs = []
    for j in problem.jobs:
        length = max(len(block_profile(j, s.site_id, dt)) for s in allowed_sites(problem, j))
        jobs.append(replace(j, interruptible=False,
                            deadline_slot=min(j.deadline_slot, j.earliest_slot + length)))
    return replace(problem, jobs=tuple(jobs))


def restricted(variant: Callable[[Problem], Problem],
               policy: Callable[[Problem, Forecaster], PolicyRun]
               ) -> Callable[[Problem, Forecaster], PolicyRun]:
    """``policy`` planned on ``variant(problem)``, scored on ``problem``."""
    def run(problem: Problem, forecaster: Forecaster) -> PolicyRun:
        out = policy(variant(problem), forecaster)
        s = out.schedule
        return replace(out, schedule=scored(problem, s.run_kw, s.status, s.solve_s))
    return run
