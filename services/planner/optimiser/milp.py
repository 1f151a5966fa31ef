"""The exact planner: the full MILP solved by HiGHS through highspy.

highspy rather than scipy.optimize.milp: the model is passed as CSC arrays without copies or
per-call validation, options (threads, gap, time limit, presolve) are set directly, and the same
``Highs`` object can be re-solved after changing bounds, which the fast planner relies on.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np

from services.planner.optimiser.formulation import Formulation, build, empty_schedule, to_schedule
from services.planner.optimiser.model import Problem, Schedule


@dataclass(frozen=True)
class Solution:
    values: np.ndarray | None
    status: str
    objective: float
    bound: float  # best proven lower bound (the LP value for an LP)
    solve_s: float


def _status(model_status: highspy.HighsModelStatus, has_solution: bool) -> str:
    if model_status == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if model_status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible"
    if model_status in (highspy.HighsModelStatus.kTimeLimit,
                        highspy.HighsModelStatus.kIterationLimit,
                        highspy.HighsModelStatus.kSolutionLimit,
                        highspy.HighsModelStatus.kInterrupt):
        return "time_limit" if has_solution else "time_limit_no_solution"
    return "error"


_banner_shown = False


def new_highs() -> highspy.Highs:
    """A silent ``Highs``. HiGHS prints its banner from the C++ constructor of the first
    instance in a process, to file descriptor 1, before any option can be set; that one
    construction runs with fd 1 pointed at /dev/null so commands that print tables
    (``degflex evaluate``, the benchmarks) keep a clean stdout."""
    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def highs_for(form: Formulation, *, integer: bool, time_limit_s: float, mip_gap: float,
              threads: int | None = None) -> highspy.Highs:
    """A silent Highs holding the formulation (integrality only when ``integer``)."""
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    lp = highspy.HighsLp()
    lp.num_col_ = len(form.cost)
    lp.num_row_ = len(form.row_lower)
    lp.col_cost_ = form.cost
    lp.col_lower_ = form.lower
    lp.col_upper_ = form.upper
    lp.row_lower_ = form.row_lower
    lp.row_upper_ = form.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = form.matrix.indptr
    lp.a_matrix_.index_ = form.matrix.indices
    lp.a_matrix_.value_ = form.matrix.data
    if integer and form.integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in form.integer]
    h.passModel(lp)
    return h


def run(h: highspy.Highs, *, integer: bool) -> Solution:
    """Solve and read back values, status, objective and bound."""
    t0 = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - t0
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    status = _status(h.getModelStatus(), has_solution)
    values = np.asarray(h.getSolution().col_value) if has_solution else None
    objective = info.objective_function_value if has_solution else float("inf")
    bound = info.mip_dual_bound if integer else objective
    return Solution(values=values, status=status, objective=objective, bound=bound,
                    solve_s=elapsed)


def start_values(form: Formulation, schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of the site and start binaries a schedule uses: a MIP start."""
    problem = form.problem
    site_of: dict[str, str] = {}
    first: dict[str, int] = {}
    for (j, s, t), kw in schedule.run_kw.items():
        if kw > 1e-9:
            site_of[j] = s
            first[j] = min(first.get(j, t), t)
    jobs, sites = problem.jobs, problem.sites
    cols, vals = [], []
    for col, i, k in form.z_cols:
        cols.append(int(col))
        vals.append(float(site_of.get(jobs[i].job_id) == sites[k].site_id))
    for col, i, k, t in form.y_cols:
        j = jobs[i].job_id
        cols.append(int(col))
        vals.append(float(site_of.get(j) == sites[k].site_id and first.get(j) == t))
    for i, col in form.w_cols.items():
        cols.append(int(col))
        vals.append(float(jobs[i].job_id not in site_of))
    return np.array(cols, dtype=np.int32), np.array(vals)


def solve_exact(problem: Problem, time_limit_s: float = 60.0, mip_gap: float = 1e-6,
                start: Schedule | None = None) -> Schedule:
    """The optimal schedule (to ``mip_gap``), or the best found within ``time_limit_s``.

    ``start``, a schedule with one site per job, seeds the search (HiGHS completes the
    continuous part). Status: ``optimal``; ``time_limit`` (best incumbent returned);
    ``infeasible`` (only when fixed commitments cannot be kept together; nothing is scheduled
    and every job is unmet); ``time_limit_no_solution`` / ``error`` (nothing scheduled).
    """
    t0 = time.perf_counter()
    form = build(problem)
    if form.errors:
        return empty_schedule(problem, "infeasible", time.perf_counter() - t0)
    h = highs_for(form, integer=True, time_limit_s=time_limit_s, mip_gap=mip_gap)
    if start is not None:
        cols, vals = start_values(form, start)
        if len(cols):
            h.setSolution(len(cols), cols, vals)
    sol = run(h, integer=True)
    if sol.values is None:
        return empty_schedule(problem, sol.status, time.perf_counter() - t0)
    return to_schedule(form, sol.values, sol.status, time.perf_counter() - t0)


def lower_bound(problem: Problem, time_limit_s: float = 60.0) -> float:
    """The LP relaxation's objective: no schedule can do better. Interior point without
    crossover (much faster than simplex on the full model; the value is optimal to HiGHS's
    tolerances, ~1e-7 relative). inf when it does not finish in time."""
    form = build(problem, relax=True)
    h = highs_for(form, integer=False, time_limit_s=time_limit_s, mip_gap=0.0)
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    sol = run(h, integer=False)
    return sol.objective if sol.status == "optimal" else float("inf")
