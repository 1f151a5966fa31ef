"""Planner benchmark: optimality gap on small instances, time at scale, growth with size.

    python bench/planner_scale.py [--quick] [--no-bound] [--no-write]

Prints markdown tables and writes them, with the machine, under "## Planner" in
docs/benchmarks.md (other sections of that file are left as they are).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine, write_section  # noqa: E402

from services.planner.optimiser.fast import solve_fast  # noqa: E402
from services.planner.optimiser.milp import lower_bound, new_highs, solve_exact  # noqa: E402
from services.planner.optimiser.model import Problem, violations  # noqa: E402
from services.planner.optimiser.planner import milp_size, plan  # noqa: E402
from services.planner.optimiser.synthetic import random_problem  # noqa: E402

SMALL = [(8, 2, 48), (12, 3, 48), (16, 3, 48)]


def highs_version() -> str:
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def gap_pct(value: float, best: float) -> float:
    gap = 100.0 * (value - best) / abs(best) if best else 0.0
    return 0.0 if abs(gap) < 5e-4 else gap


def optimality(seeds: int) -> tuple[list[str], dict[str, float]]:
    rows = ["| instance (jobs × sites × slots) | seed | exact £ obj | exact s | status | "
            "fast gap % | fast s | degflex gap % | degflex s |",
            "|---|---|---|---|---|---|---|---|---|"]
    fast_gaps, plan_gaps, bad, fast_short = [], [], 0, 0
    for size in SMALL:
        for seed in range(seeds):
            p = random_problem(seed, n_jobs=size[0], n_sites=size[1], n_slots=size[2])
            exact = solve_exact(p, time_limit_s=60.0, mip_gap=1e-6)
            fast = solve_fast(p)
            planned = plan(p, time_limit_s=5.0)
            for s in (exact, fast, planned):
                bad += bool(violations(p, s))
            fg, pg = gap_pct(fast.objective, exact.objective), gap_pct(planned.objective,
                                                                         exact.objective)
            fast_gaps.append(fg)
            fast_short += sum(fast.unmet_kwh.values()) > sum(exact.unmet_kwh.values()) + 1e-6
            plan_gaps.append(pg)
            rows.append(f"| {size[0]} × {size[1]} × {size[2]} | {seed} | {exact.objective:,.0f} | "
                        f"{exact.solve_s:.2f} | {exact.status} | {fg:.3f} | {fast.solve_s:.3f} | "
                        f"{pg:.3f} | {planned.solve_s:.2f} |")
    summary = {"n": len(fast_gaps), "fast_mean": statistics.mean(fast_gaps),
               "fast_median": statistics.median(fast_gaps), "fast_max": max(fast_gaps),
               "fast_short": fast_short, "plan_mean": statistics.mean(plan_gaps),
               "plan_max": max(plan_gaps), "violations": bad}
    return rows, summary


def midsize(sizes: list[tuple[int, int, int]], exact_s: float) -> list[str]:
    """Instances too big to prove optimal quickly: degflex against the MILP's best in exact_s."""
    rows = ["| jobs × sites × slots | MILP best £ obj (status) | MILP bound | degflex gap to MILP "
            "best % | to bound % | degflex s | fast gap % | fast s |",
            "|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        p = random_problem(100, n_jobs=size[0], n_sites=size[1], n_slots=size[2])
        fast = solve_fast(p)
        planned = plan(p, time_limit_s=5.0)
        form_best = solve_exact(p, time_limit_s=exact_s, mip_gap=1e-4, start=planned)
        bound = lower_bound(p, time_limit_s=exact_s)
        rows.append(f"| {size[0]} × {size[1]} × {size[2]} | {form_best.objective:,.0f} "
                    f"({form_best.status}) | ≥ {bound:,.0f} (LP) | "
                    f"{gap_pct(planned.objective, form_best.objective):.2f} | "
                    f"{gap_pct(planned.objective, bound):.2f} | {planned.solve_s:.2f} | "
                    f"{gap_pct(fast.objective, form_best.objective):.2f} | {fast.solve_s:.2f} |")
        print(rows[-1], flush=True)
    return rows


def timed(p: Problem) -> tuple[float, float, float, int]:
    """(degflex s, degflex objective, fast s, violations) for one instance."""
    planned = plan(p, time_limit_s=5.0)
    fast = solve_fast(p)
    return planned.solve_s, planned.objective, fast.solve_s, len(violations(p, planned))


def scale(sizes: list[tuple[int, int, int]], seeds: int, bound_for: set[tuple[int, int, int]]
          ) -> list[str]:
    rows = ["| jobs × sites × slots | MILP nonzeros (est.) | degflex s (median) | max s | "
            "fast s (median) | unmet kWh | violations | gap to LP bound % | LP bound s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        times, fast_times, unmet, bad = [], [], 0.0, 0
        gap, bound_s = "–", "–"
        for seed in range(seeds):
            p = random_problem(100 + seed, n_jobs=size[0], n_sites=size[1], n_slots=size[2])
            planned = plan(p, time_limit_s=5.0)
            times.append(planned.solve_s)
            fast_times.append(solve_fast(p).solve_s)
            unmet += sum(planned.unmet_kwh.values())
            bad += len(violations(p, planned))
            if seed == 0 and size in bound_for:
                t0 = time.perf_counter()
                lb = lower_bound(p, time_limit_s=600.0)
                bound_s = f"{time.perf_counter() - t0:.0f}"
                gap = f"{gap_pct(planned.objective, lb):.2f}"
        rows.append(f"| {size[0]} × {size[1]} × {size[2]} | "
                    f"{milp_size(random_problem(100, *size)):,} | "
                    f"{statistics.median(times):.2f} | {max(times):.2f} | "
                    f"{statistics.median(fast_times):.2f} | {unmet:,.0f} | {bad} | {gap} | "
                    f"{bound_s} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and sizes (a smoke run)")
    ap.add_argument("--no-bound", action="store_true", help="skip the slow LP lower bounds")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    host, highs = machine(), highs_version()
    print(f"Machine: {host}, HiGHS {highs}\n")

    seeds = 2 if args.quick else 8
    opt_rows, opt = optimality(seeds)
    print("\n".join(opt_rows))
    print(f"\nsolve_fast gap: median {opt['fast_median']:.3f}%, mean {opt['fast_mean']:.3f}%, "
          f"max {opt['fast_max']:.3f}% (left energy unmet that the MILP delivers on "
          f"{opt['fast_short']}); "
          f"degflex (plan, 5 s) gap: mean {opt['plan_mean']:.3f}%, max {opt['plan_max']:.3f}% "
          f"over {opt['n']} instances; schedules with violations: {opt['violations']}\n")

    mid_rows = [] if args.quick else midsize([(40, 5, 96), (80, 5, 96)], 120.0)

    target = (1000, 10, 96)
    growth = [(100, 10, 96), (300, 10, 96), target, (3000, 10, 96),
              (1000, 2, 96), (1000, 5, 96), (1000, 10, 48), (1000, 10, 192)]
    if args.quick:
        growth = [(100, 10, 96), target]
    bound_for = set() if args.no_bound else {(300, 10, 96), target}
    scale_rows = scale(growth, 1 if args.quick else 3, bound_for)
    print("\n".join(scale_rows))

    section = "\n".join([
        "## Planner",
        "",
        f"Written by `python bench/planner_scale.py` on {time.strftime('%Y-%m-%d')}. Machine: "
        f"{host}, HiGHS {highs} (highspy), {platform.platform()}. "
        "Instances: `services/planner/optimiser/synthetic.py` (prices 0.05–0.35 £/kWh "
        "with a daily shape, 30–250 gCO2/kWh, jobs 50–2000 kW for 1–12 h in 4–24 h windows, 30% "
        "non-interruptible, 20% non-migratable, batteries at half the sites, offered grid "
        "capacity per zone, carbon price £80/t). Objective = £ + carbon price × tCO2 (+ £100/kWh "
        "unmet). \"degflex\" is `plan(problem, time_limit_s=5)`: the fast planner, then for the "
        "rest of the 5 s the MILP seeded with its answer when the model is small (≤ 30k "
        "estimated nonzeros), a large-neighbourhood search (small MILPs freeing a few jobs "
        "at a time) when it is mid-sized (≤ 1M), else nothing more (it returns as soon as the "
        "fast planner is done); \"fast\" is `solve_fast` alone (default 3 s budget).",
        "",
        "### Optimality (small instances, exact = HiGHS MILP, gap 1e-6, 60 s limit)",
        "",
        f"- solve_fast alone: median gap **{opt['fast_median']:.3f}%**, mean "
        f"{opt['fast_mean']:.3f}%, max {opt['fast_max']:.3f}%; on {opt['fast_short']} of "
        f"{opt['n']} it left energy unmet (at £100/kWh) that the MILP delivers",
        f"- degflex (plan, 5 s): mean gap **{opt['plan_mean']:.3f}%**, max "
        f"**{opt['plan_max']:.3f}%** (target ≤ 0.5%)",
        f"- {opt['n']} instances; schedules with constraint violations: {opt['violations']}",
        "",
        *opt_rows,
        "",
        "### Mid-size tight instances (sites of 2–3 MW, jobs up to 2 MW)",
        "",
        "Too big to prove optimal in minutes. The MILP gets 120 s, seeded with degflex's "
        "answer (so it is never worse); the bound is the LP relaxation.",
        "",
        *mid_rows,
        "",
        "### Time and growth (degflex = plan with a 5 s limit; medians over "
        f"{1 if args.quick else 3} seeds)",
        "",
        "The gap to the LP bound compares with the LP relaxation of the full MILP (HiGHS interior "
        "point, first seed only): the optimum lies between the two, so it over-states the gap.",
        "",
        *scale_rows,
        "",
    ])
    if not args.no_write:
        write_section("Planner", section)
        print("\nwritten to docs/benchmarks.md")


if __name__ == "__main__":
    main()
