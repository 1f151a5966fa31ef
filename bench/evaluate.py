"""The planner evaluation benchmark: 200 jobs on the June 2023 traces, 2 and 5 sites, noisy
forecasts, every policy plus degflex re-planning on perfect forecasts; prints each table with
the machine it ran on. Figures are recorded in docs/benchmarks.md ("Planner evaluation").

    .venv/bin/python bench/evaluate.py [--sites 2 5] [--forecast noisy] [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import machine  # noqa: E402

from services.evaluate.report import markdown  # noqa: E402
from services.evaluate.run import (  # noqa: E402
    EXTRA_POLICIES,
    POLICIES,
    EvaluateConfig,
    evaluate,
    write,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=int, nargs="+", default=[2, 5])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--start", type=date.fromisoformat, default=date(2023, 6, 12))
    p.add_argument("--forecast", default="noisy")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-rolling-perfect", action="store_true",
                   help="skip degflex re-planning on perfect forecasts (halves the run time)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "evaluate")
    args = p.parse_args(argv)
    policies = POLICIES if args.no_rolling_perfect else POLICIES + EXTRA_POLICIES
    print(f"machine: {machine()}, nproc {len(os.sched_getaffinity(0))}, "
          f"{platform.system()} {platform.release()}\n", flush=True)
    for sites in args.sites:
        cfg = replace(EvaluateConfig(), jobs=args.jobs, sites=sites, days=args.days,
                      start=args.start, forecast=args.forecast, seed=args.seed,
                      policies=policies, out=args.out / f"{sites}-sites")
        t0 = time.perf_counter()
        tag = f"  [{sites} sites]"
        outcome = evaluate(cfg, log=lambda m, tag=tag: print(f"{tag} {m}", file=sys.stderr,
                                                             flush=True))
        write(outcome, cfg.out)
        print(f"## {sites} sites ({time.perf_counter() - t0:.0f} s in all)\n")
        print(markdown(outcome.evaluation), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
