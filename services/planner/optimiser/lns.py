"""Large-neighbourhood search: improve a schedule by re-solving small MILPs in which only a few
jobs may change site or start (every kW and battery flow stays free), for a time budget."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from services.planner.optimiser.formulation import build, to_schedule
from services.planner.optimiser.milp import highs_for, run, start_values
from services.planner.optimiser.model import Problem, Schedule, window


def _placement(problem: Problem, schedule: Schedule) -> dict[int, tuple[int, int]]:
    """(site index, first slot) of every job that runs."""
    site_index = {s.site_id: k for k, s in enumerate(problem.sites)}
    job_index = {j.job_id: i for i, j in enumerate(problem.jobs)}
    out: dict[int, tuple[int, int]] = {}
    for (j, s, t), kw in schedule.run_kw.items():
        if kw > 1e-9 and j in job_index:
            i = job_index[j]
            k, first = out.get(i, (site_index[s], t))
            out[i] = (site_index[s], min(first, t))
    return out


def _neighbourhood(problem: Problem, schedule: Schedule, placed: dict[int, tuple[int, int]],
                   size: int, step: int, rng: np.random.Generator) -> set[int]:
    """Jobs to free: those short of energy and the jobs around them; otherwise, in turn, the
    jobs of two sites over part of the day, or jobs at random."""
    n = problem.grid.n_slots
    jobs = problem.jobs
    short = [i for i, j in enumerate(jobs) if schedule.unmet_kwh.get(j.job_id, 0.0) > 1e-6]
    if short and step % 2 == 0:
        free = set(rng.permutation(short)[:max(1, size // 3)].tolist())
        spans = [window(jobs[i], n) for i in free]
        near = [i for i, (_k, _t) in placed.items() if i not in free and any(
            w.start < window(jobs[i], n).stop and window(jobs[i], n).start < w.stop
            for w in spans)]
        free |= set(rng.permutation(near)[: size - len(free)].tolist()) if near else set()
        return free
    if step % 3 != 2 and len(problem.sites) > 1:
        pair = set(rng.choice(len(problem.sites), size=2, replace=False).tolist())
        lo = int(rng.integers(0, max(1, n - n // 3)))
        hi = lo + max(1, n // 3)
        pool = [i for i, (k, _t) in placed.items() if k in pair
                and window(jobs[i], n).start < hi and lo < window(jobs[i], n).stop]
        pool += [i for i in short if i not in pool]
        if pool:
            return set(rng.permutation(pool)[:size].tolist())
    return set(rng.permutation(len(jobs))[:size].tolist())


def improve(problem: Problem, schedule: Schedule, budget_s: float, *, size: int = 6,
            sub_time_s: float = 0.5, seed: int = 0) -> Schedule:
    """The best schedule found by freeing ``size`` jobs at a time (adapted to how quickly the
    sub-problems solve) until ``budget_s`` runs out. Never worse than ``schedule``."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    best = schedule
    step = 0
    overhead = 0.05  # building and reading back one sub-problem, measured as we go
    while time.perf_counter() - t0 < budget_s - 2 * overhead:
        t_build = time.perf_counter()
        placed = _placement(problem, best)
        free = _neighbourhood(problem, best, placed, size, step, rng)
        step += 1
        site_options = {i: (k,) for i, (k, _t) in placed.items()
                        if problem.jobs[i].interruptible and i not in free}
        start_options = {i: ((k, t),) for i, (k, t) in placed.items()
                         if not problem.jobs[i].interruptible and i not in free}
        form = build(problem, site_options=site_options, start_options=start_options)
        if form.errors:
            break
        # Blocks that stay put keep running: fixed binaries that presolve removes.
        kept = [c for c, i, _k, _t in form.y_cols if int(i) in start_options]
        form.lower[kept] = 1.0
        left = budget_s - (time.perf_counter() - t0) - overhead
        if left <= 0.05:
            break
        h = highs_for(form, integer=True, time_limit_s=min(sub_time_s, left), mip_gap=1e-6)
        cols, vals = start_values(form, best)
        if len(cols):
            h.setSolution(len(cols), cols, vals)
        sol = run(h, integer=True)
        if sol.status == "optimal":
            size = min(len(problem.jobs), int(size * 1.25) + 1)
        elif sol.status.startswith("time_limit"):
            size = max(2, int(size * 0.7))
        if sol.values is not None:
            trial = to_schedule(form, sol.values, best.status, 0.0)
            if trial.objective < best.objective - 1e-7 * abs(best.objective):
                best = trial
        overhead = max(0.05, time.perf_counter() - t_build - sol.solve_s)
        if sol.status == "optimal" and len(free) >= len(problem.jobs):
            break  # the whole problem was solved: nothing left to search
    return replace(best, solve_s=schedule.solve_s + time.perf_counter() - t0)
