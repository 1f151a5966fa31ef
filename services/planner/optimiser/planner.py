"""The degflex planner: the fast planner, then, for the rest of the time limit, the exact MILP
seeded with its answer when the model is small, or a large-neighbourhood search when it is
mid-sized."""

from __future__ import annotations

import time
from dataclasses import replace

from services.planner.optimiser.fast import solve_fast
from services.planner.optimiser.lns import improve
from services.planner.optimiser.milp import solve_exact
from services.planner.optimiser.model import Problem, Schedule, allowed_sites, block_profile, window

EXACT_MAX_NONZEROS = 30_000
"""Above this (estimated) MILP size the whole MILP rarely improves within seconds: the search
frees a few jobs at a time instead."""

SEARCH_MAX_NONZEROS = 1_000_000
"""Above this each sub-problem of the search still carries every job's kW and takes seconds;
measured at 1,000 jobs x 10 sites x 96 slots it gained under 0.05% in a minute: fast only."""


def milp_size(problem: Problem) -> int:
    """Estimated nonzeros of the full MILP (x columns ~4 each, block starts ~3 per slot run)."""
    n, dt = problem.grid.n_slots, problem.grid.slot_hours
    total = 0
    for job in problem.jobs:
        sites = len(allowed_sites(problem, job))
        slots = len(window(job, n))
        if job.interruptible:
            total += 4 * sites * slots
        else:
            length = len(block_profile(job, job.home_site, dt))
            total += 3 * sites * max(0, slots - length + 1) * length
    return total


def plan(problem: Problem, time_limit_s: float = 5.0, mip_gap: float = 1e-4,
         max_exact_nonzeros: int = EXACT_MAX_NONZEROS,
         max_search_nonzeros: int = SEARCH_MAX_NONZEROS) -> Schedule:
    """The best schedule found within ``time_limit_s``: the fast planner (at most 40% of it),
    then the seeded MILP (models up to ``max_exact_nonzeros``) or the neighbourhood search (up
    to ``max_search_nonzeros``) for the rest; bigger models get the fast planner's answer.

    Status: ``optimal`` when the MILP proved it (to ``mip_gap``), else the fast planner's or the
    MILP's (``feasible``, ``time_limit``).
    """
    t0 = time.perf_counter()
    fast = solve_fast(problem, budget_s=min(3.0, 0.4 * time_limit_s))
    best = fast
    remaining = time_limit_s - (time.perf_counter() - t0)
    size = milp_size(problem)
    if remaining > 0.2 and size <= max_exact_nonzeros:
        exact = solve_exact(problem, time_limit_s=remaining, mip_gap=mip_gap, start=fast)
        if exact.objective <= fast.objective + 1e-9 * abs(fast.objective):
            best = exact
    elif remaining > 0.2 and size <= max_search_nonzeros:
        best = improve(problem, fast, budget_s=remaining - 0.1)
    return replace(best, solve_s=time.perf_counter() - t0)
