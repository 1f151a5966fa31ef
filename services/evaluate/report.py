"""Per-policy figures (all on the actual signals), the share of the run-now → perfect-foresight
carbon gap each closes, and the Markdown table and JSON document that carry them."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import pairwise

from services.evaluate.policies import DONE_KWH, PolicyRun
from services.planner.optimiser.model import Problem, Schedule, violations


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    cost_gbp: float
    carbon_kg: float
    objective_gbp: float  # cost + carbon price x emissions + unmet penalty
    deadline_misses: int  # jobs with energy still undelivered at their deadline
    unmet_kwh: float
    migrations: int  # jobs that ran anywhere away from home (each pays migration energy once)
    site_changes: int  # times a job's next run slot is at another site than its last
    violations: int
    runtime_s: float
    solver: str
    solves: int
    gap_closed: float | None = None  # (run-now - policy) / (run-now - perfect), carbon
    objective_gap_closed: float | None = None  # the same on degflex's objective


@dataclass(frozen=True)
class Evaluation:
    settings: dict[str, object]
    fleet: dict[str, object]
    results: tuple[PolicyResult, ...]
    split: dict[str, float] = field(default_factory=dict)  # spatial / temporal carbon gains, kg
    notes: tuple[str, ...] = ()

    def result(self, policy: str) -> PolicyResult:
        for r in self.results:
            if r.policy == policy:
                return r
        raise KeyError(policy)


def gap_closed(run_now_kg: float, policy_kg: float, perfect_kg: float) -> float | None:
    """Share of the carbon gap between run-now and perfect foresight that a policy closes:
    1 = as good as perfect foresight, 0 = no better than run-now, < 0 = worse. None when
    perfect foresight saves nothing over run-now."""
    gap = run_now_kg - perfect_kg
    if abs(gap) <= 1e-9 * max(1.0, abs(run_now_kg)):
        return None
    return (run_now_kg - policy_kg) / gap


def migrations(problem: Problem, schedule: Schedule) -> tuple[int, int]:
    """(jobs that ran away from home, site changes between a job's consecutive run slots)."""
    home = {j.job_id: j.home_site for j in problem.jobs}
    runs: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (j, s, t), kw in schedule.run_kw.items():
        if kw > 1e-6:
            runs[j].append((t, s))
    away = sum(1 for j, r in runs.items() if any(s != home[j] for _, s in r))
    changes = sum(sum(1 for (_, a), (_, b) in pairwise(r) if a != b)
                  for r in (sorted(v) for v in runs.values()))
    return away, changes


def result_of(policy: str, problem: Problem, run: PolicyRun) -> PolicyResult:
    s = run.schedule
    away, changes = migrations(problem, s)
    return PolicyResult(
        policy=policy, cost_gbp=s.cost_gbp, carbon_kg=s.carbon_kg, objective_gbp=s.objective,
        deadline_misses=sum(1 for v in s.unmet_kwh.values() if v > DONE_KWH),
        unmet_kwh=sum(s.unmet_kwh.values()), migrations=away, site_changes=changes,
        violations=len(violations(problem, s)), runtime_s=run.runtime_s, solver=run.solver,
        solves=run.solves)


def with_gaps(results: list[PolicyResult], *, run_now: str = "run-now",
              perfect: str = "degflex-perfect") -> list[PolicyResult]:
    by = {r.policy: r for r in results}
    if run_now not in by or perfect not in by:
        return results
    rn, pf = by[run_now], by[perfect]
    return [PolicyResult(**{**asdict(r),
                            "gap_closed": gap_closed(rn.carbon_kg, r.carbon_kg, pf.carbon_kg),
                            "objective_gap_closed": gap_closed(rn.objective_gbp, r.objective_gbp,
                                                               pf.objective_gbp)})
            for r in results]


def markdown(ev: Evaluation) -> str:
    head = ("| policy | £ | kgCO2 | carbon gap closed | objective gap closed | deadline misses "
            "| migrations | violations | runtime s | solver |")
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in ev.results:
        rows.append(f"| {r.policy} | {r.cost_gbp:,.0f} | {r.carbon_kg:,.0f} "
                    f"| {_pct(r.gap_closed)} | {_pct(r.objective_gap_closed)} "
                    f"| {r.deadline_misses} | {r.migrations} | {r.violations} "
                    f"| {r.runtime_s:.1f} | {r.solver} |")
    out = [_settings_line(ev), "", *rows]
    if ev.split:
        s = ev.split
        split = (f"Split of the perfect-foresight carbon saving ({s['joint_kg']:,.0f} kg): "
                 f"temporal only (sites fixed at home) {s['temporal_kg']:,.0f} kg, "
                 f"spatial only (start times fixed) {s['spatial_kg']:,.0f} kg, "
                 f"interaction {s['interaction_kg']:,.0f} kg.")
        out += ["", split]
    if ev.notes:
        out += ["", *(f"- {n}" for n in ev.notes)]
    return "\n".join(out).rstrip() + "\n"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def _settings_line(ev: Evaluation) -> str:
    s, f = ev.settings, ev.fleet
    return (f"{f['jobs']} jobs, {f['sites']} sites ({', '.join(f['site_ids'])}), "
            f"arrivals over {s['days']} day(s) from {s['start']} ({f['slots']} half-hours to the "
            f"last deadline), {s['forecast']} forecasts, seed {s['seed']}, carbon price "
            f"£{s['carbon_price_gbp_per_t']:,.0f}/t; figures on the actual June 2023 signals.")


def to_json(ev: Evaluation) -> str:
    return json.dumps(asdict(ev), indent=2, default=str) + "\n"
