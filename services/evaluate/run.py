"""The evaluation: a synthetic fleet on the real June 2023 signals, every policy side by side,
a Markdown table on stdout, JSON and PNGs in the output folder. Entry of `degflex evaluate`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from services.evaluate import policies as pol
from services.evaluate.fleet import Fleet, FleetSpec, make_fleet, make_problem
from services.evaluate.forecasts import MODES, SLOT, Forecaster, Signals, load_signals
from services.evaluate.report import Evaluation, markdown, result_of, to_json, with_gaps
from services.grid_signal.sources.trace_csv import JUNE_2023_END
from services.planner.optimiser.model import Problem

POLICIES = ("run-now", "cleanest-site", "carbon-aware-sdk", "pause-above-threshold",
            "degflex-forecast", "degflex-perfect", "degflex-time-only", "degflex-site-only")
EXTRA_POLICIES = ("degflex-rolling-perfect",)
"""Not run by default: degflex re-planning on perfect forecasts, which separates the cost of
forecast error from the cost of not knowing future arrivals."""
BOUND_MAX_NONZEROS = 10**9
"""The perfect-foresight solves always try the exact MILP (seeded with the fast plan) within
their time limit, whatever its size."""


@dataclass(frozen=True)
class EvaluateConfig:
    jobs: int = 200
    sites: int = 2
    days: int = 2
    start: date = date(2023, 6, 12)
    forecast: str = "noisy"
    seed: int = 1
    out: Path = Path("out/evaluate")
    carbon_price_gbp_per_t: float = 1000.0
    replan_hours: float = 4.0
    solver: str = "planner"
    time_limit_s: float = 5.0
    bound_time_limit_s: float = 60.0
    threshold_g_per_kwh: float | None = None
    policies: tuple[str, ...] = POLICIES
    plots: bool = True


@dataclass(frozen=True)
class Outcome:
    evaluation: Evaluation
    problem: Problem
    signals: Signals
    runs: dict[str, pol.PolicyRun]


PolicyFn = Callable[[Problem], pol.PolicyRun]


def _policies(cfg: EvaluateConfig, forecaster: Forecaster,
              perfect: Forecaster) -> dict[str, PolicyFn]:
    rolling = pol.make_solver(pol.SolverOptions(solver=cfg.solver,
                                                time_limit_s=cfg.time_limit_s))
    bound = pol.make_solver(pol.SolverOptions(solver=cfg.solver,
                                              time_limit_s=cfg.bound_time_limit_s,
                                              max_exact_nonzeros=BOUND_MAX_NONZEROS))

    def once(p: Problem, f: Forecaster) -> pol.PolicyRun:
        return pol.degflex_once(p, f, bound)

    return {
        "run-now": lambda p: pol.run_now(p, forecaster),
        "cleanest-site": lambda p: pol.cleanest_site(p, forecaster),
        "carbon-aware-sdk": lambda p: pol.carbon_aware_sdk(p, forecaster),
        "pause-above-threshold": lambda p: pol.pause_above_threshold(
            p, forecaster, cfg.threshold_g_per_kwh),
        "degflex-forecast": lambda p: pol.degflex_rolling(
            p, forecaster, rolling, replan_hours=cfg.replan_hours),
        "degflex-perfect": lambda p: once(p, perfect),
        "degflex-time-only": lambda p: pol.restricted(pol.time_only, once)(p, perfect),
        "degflex-site-only": lambda p: pol.restricted(pol.site_only, once)(p, perfect),
        "degflex-rolling-perfect": lambda p: pol.degflex_rolling(
            p, perfect, rolling, replan_hours=cfg.replan_hours),
    }


def _fleet_summary(fleet: Fleet) -> dict[str, object]:
    return {
        "jobs": len(fleet.jobs), "sites": len(fleet.sites),
        "site_ids": [s.site_id for s in fleet.sites],
        "site_zones": {s.site_id: s.zone for s in fleet.sites},
        "capacity_kw": {s.site_id: s.capacity_kw for s in fleet.sites},
        "pue": {s.site_id: s.pue for s in fleet.sites},
        "slots": fleet.n_slots,
        "energy_mwh": round(sum(j.energy_kwh for j in fleet.jobs) / 1000.0, 1),
        "interruptible": sum(j.interruptible for j in fleet.jobs),
        "migratable": sum(j.migratable for j in fleet.jobs),
    }


def evaluate(cfg: EvaluateConfig, *, log: Callable[[str], None] = lambda _m: None) -> Outcome:
    """Every policy in ``cfg.policies`` on one fleet and one set of signals."""
    unknown = [p for p in cfg.policies if p not in POLICIES + EXTRA_POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {POLICIES + EXTRA_POLICIES}")
    if cfg.forecast not in MODES:
        raise ValueError(f"forecast {cfg.forecast!r}: expected one of {MODES}")
    fleet = make_fleet(FleetSpec(n_jobs=cfg.jobs, n_sites=cfg.sites, days=cfg.days,
                                 seed=cfg.seed))
    t0 = cfg.start
    end = datetime(t0.year, t0.month, t0.day, tzinfo=UTC) + fleet.n_slots * SLOT
    if end > JUNE_2023_END:
        raise ValueError(f"{cfg.days} day(s) of arrivals from {t0} run to {end.isoformat()} (the "
                         f"last deadline), past the traces' end {JUNE_2023_END.isoformat()}")
    signals = load_signals(t0, fleet.n_slots)
    problem = make_problem(fleet, signals.start,
                           {z: signals.horizon_carbon(z) for z in signals.zones},
                           {z: signals.horizon_price(z) for z in signals.zones},
                           carbon_price_gbp_per_t=cfg.carbon_price_gbp_per_t)
    forecaster = Forecaster(signals, cfg.forecast, cfg.seed)  # type: ignore[arg-type]
    perfect = Forecaster(signals, "perfect", cfg.seed)
    table = _policies(cfg, forecaster, perfect)
    runs: dict[str, pol.PolicyRun] = {}
    for name in cfg.policies:
        t = time.perf_counter()
        runs[name] = table[name](problem)
        log(f"{name}: {time.perf_counter() - t:.1f} s ({runs[name].solver})")
    results = with_gaps([result_of(n, problem, r) for n, r in runs.items()])
    ev = Evaluation(settings=_settings(cfg), fleet=_fleet_summary(fleet), results=tuple(results),
                    split=_split(results), notes=tuple(_notes(cfg, problem, runs)))
    return Outcome(evaluation=ev, problem=problem, signals=signals, runs=runs)


def _settings(cfg: EvaluateConfig) -> dict[str, object]:
    return {"jobs": cfg.jobs, "sites": cfg.sites, "days": cfg.days, "start": cfg.start.isoformat(),
            "forecast": cfg.forecast, "seed": cfg.seed,
            "carbon_price_gbp_per_t": cfg.carbon_price_gbp_per_t,
            "replan_hours": cfg.replan_hours, "solver": cfg.solver,
            "time_limit_s": cfg.time_limit_s,
            "bound_time_limit_s": cfg.bound_time_limit_s,
            "threshold_g_per_kwh": cfg.threshold_g_per_kwh, "policies": list(cfg.policies)}


def _split(results: Sequence) -> dict[str, float]:
    by = {r.policy: r.carbon_kg for r in results}
    need = ("run-now", "degflex-perfect", "degflex-time-only", "degflex-site-only")
    if not all(k in by for k in need):
        return {}
    rn = by["run-now"]
    joint, temporal, spatial = (rn - by["degflex-perfect"], rn - by["degflex-time-only"],
                                rn - by["degflex-site-only"])
    return {"joint_kg": joint, "temporal_kg": temporal, "spatial_kg": spatial,
            "interaction_kg": joint - temporal - spatial}


def _notes(cfg: EvaluateConfig, problem: Problem, runs: dict[str, pol.PolicyRun]) -> list[str]:
    notes = []
    ended = {part.rsplit(" x", 1)[0] for r in runs.values() if r.solves
             for part in r.solver.split(", ")}
    if ended - {"optimal"}:
        notes.append(f"solver column, how each degflex solve ended: optimal = the MILP proved it; "
                     f"time_limit = the MILP's best incumbent (seeded with the fast plan) at the "
                     f"limit ({cfg.time_limit_s:g} s per re-plan, {cfg.bound_time_limit_s:g} s "
                     f"for the perfect-foresight solves); feasible = the fast planner's plan "
                     f"(the MILP too large or not better in time)")
    bound = runs.get("degflex-perfect")
    if bound is not None and not bound.solver.startswith("optimal "):
        from services.planner.optimiser.milp import lower_bound
        lb = lower_bound(problem, time_limit_s=cfg.bound_time_limit_s)
        obj = bound.schedule.objective
        notes.append(f"degflex-perfect was not proven optimal; its objective £{obj:,.0f} is "
                     f"within {100 * (obj - lb) / max(abs(lb), 1e-9):.2f}% of the LP-relaxation "
                     f"bound £{lb:,.0f}")
    notes.append("carbon gap closed = (run-now - policy) / (run-now - degflex-perfect) in kgCO2; "
                 "degflex minimises £ + carbon price x tCO2 (+ £100/kWh unmet), so a plan can "
                 "emit less than degflex-perfect while costing more (over 100%); the objective "
                 "gap is the like-for-like measure and counts deadline misses at their penalty")
    return notes


def write(outcome: Outcome, out: Path, *, plots: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evaluate.json"
    path.write_text(to_json(outcome.evaluation))
    written = [path]
    if plots:
        from services.evaluate.plots import write_plots
        written += write_plots(outcome, out)
    return written


def run(cfg: EvaluateConfig, *, log: Callable[[str], None] = lambda _m: None) -> Outcome:
    """Evaluate, print the table, write JSON and PNGs to ``cfg.out``."""
    outcome = evaluate(cfg, log=log)
    print(markdown(outcome.evaluation), end="", flush=True)
    for p in write(outcome, Path(cfg.out), plots=cfg.plots):
        log(f"wrote {p}")
    return outcome


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = EvaluateConfig()
    p.add_argument("--jobs", type=int, default=d.jobs, help="jobs in the synthetic fleet")
    p.add_argument("--sites", type=int, default=d.sites, help="sites, 2-10")
    p.add_argument("--days", type=int, default=d.days, help="days over which jobs arrive")
    p.add_argument("--start", type=date.fromisoformat, default=d.start,
                   help="first day (UTC), 2023-06-05..; persistence needs 2023-06-06 or later")
    p.add_argument("--forecast", choices=MODES, default=d.forecast,
                   help="what the non-bound policies decide on")
    p.add_argument("--seed", type=int, default=d.seed, help="fleet and forecast-noise seed")
    p.add_argument("--out", type=Path, default=d.out, help="folder for evaluate.json and PNGs")
    p.add_argument("--carbon-price", type=float, default=d.carbon_price_gbp_per_t,
                   dest="carbon_price", help="£/tCO2 in degflex's objective")
    p.add_argument("--replan-hours", type=float, default=d.replan_hours,
                   help="degflex-forecast re-plans at every arrival and at least this often")
    p.add_argument("--solver", choices=("planner", "exact", "fast"), default=d.solver,
                   help="planner: fast heuristic, then the MILP seeded with it when small "
                        "enough (default); exact: MILP only; fast: heuristic only")
    p.add_argument("--time-limit", type=float, default=d.time_limit_s, dest="time_limit",
                   help="seconds per degflex re-plan")
    p.add_argument("--bound-time-limit", type=float, default=d.bound_time_limit_s,
                   dest="bound_time_limit", help="seconds for the perfect-foresight solves")
    p.add_argument("--threshold", type=float, default=None,
                   help="pause-above-threshold's gCO2/kWh (default: trailing 24 h median)")
    p.add_argument("--policies", default=",".join(POLICIES),
                   help=f"comma-separated subset of {', '.join(POLICIES + EXTRA_POLICIES)}, "
                        f"or 'all'")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")


def config_from_args(args: argparse.Namespace) -> EvaluateConfig:
    names = (POLICIES + EXTRA_POLICIES if args.policies == "all"
             else tuple(x.strip() for x in args.policies.split(",") if x.strip()))
    return EvaluateConfig(jobs=args.jobs, sites=args.sites, days=args.days, start=args.start,
                          forecast=args.forecast, seed=args.seed, out=args.out,
                          carbon_price_gbp_per_t=args.carbon_price,
                          replan_hours=args.replan_hours, solver=args.solver,
                          time_limit_s=args.time_limit,
                          bound_time_limit_s=args.bound_time_limit,
                          threshold_g_per_kwh=args.threshold, policies=names,
                          plots=not args.no_plots)


def main(args: argparse.Namespace) -> int:
    """`degflex evaluate` / `python -m services.evaluate`."""
    def log(msg: str) -> None:
        print(f"[evaluate] {msg}", file=sys.stderr, flush=True)
    outcome = run(config_from_args(args), log=log)
    bad = [r.policy for r in outcome.evaluation.results if r.violations]
    if bad:
        log(f"schedules breaking the model's constraints: {bad}")
        return 1
    return 0

