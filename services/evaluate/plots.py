"""PNGs of an evaluation: each plan's IT load per site against the zones' intensity, and the
policies' emissions and cost side by side. Matplotlib with the Agg backend (no display)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from services.evaluate.run import Outcome

PLANS = ("run-now", "degflex-forecast", "degflex-perfect")
ZONE_COLOURS = {"UK-EAST": "tab:red", "UK-NW": "tab:green"}


def plan_load(outcome: Outcome, policy: str) -> dict[str, np.ndarray]:
    """IT kW per site and slot in a policy's schedule."""
    p = outcome.problem
    load = {s.site_id: np.zeros(p.grid.n_slots) for s in p.sites}
    for (_j, s, t), kw in outcome.runs[policy].schedule.run_kw.items():
        load[s][t] += kw
    return load


def plot_plan(outcome: Outcome, policy: str, path: Path) -> Path:
    p, sig = outcome.problem, outcome.signals
    n = p.grid.n_slots
    times = [p.grid.start + timedelta(hours=p.grid.slot_hours * t) for t in range(n + 1)]
    load = plan_load(outcome, policy)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    base = np.zeros(n)
    zone = {s.site_id: s.zone for s in p.sites}
    cmap = plt.get_cmap("tab10")
    for k, (site, kw) in enumerate(load.items()):
        mw = kw / 1000.0
        top.stairs(base + mw, times, baseline=base, fill=True, color=cmap(k), alpha=0.8,
                   label=f"{site} ({zone[site]})")
        base = base + mw
    for k, s in enumerate(p.sites):
        top.axhline(s.capacity_kw / 1000.0, color=cmap(k), lw=0.8, ls=":")
    r = outcome.evaluation.result(policy)
    top.set_ylabel("IT load, MW")
    top.set_title(f"{policy}: {r.carbon_kg / 1000:,.1f} tCO2, £{r.cost_gbp:,.0f}, "
                  f"{r.deadline_misses} deadline misses (stacked by site; dotted: capacity)")
    top.legend(loc="upper left", fontsize=8)
    for z in sig.zones:
        c = ZONE_COLOURS.get(z)
        bottom.stairs(sig.horizon_carbon(z), times, baseline=None, color=c, label=f"{z} actual")
    bottom.set_ylabel("gCO2/kWh")
    bottom.set_xlabel("UTC")
    bottom.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_policies(outcome: Outcome, path: Path) -> Path:
    results = outcome.evaluation.results
    names = [r.policy for r in results]
    y = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.5 * len(names) + 2), sharey=True)
    left.barh(y, [r.carbon_kg / 1000.0 for r in results], color="tab:green")
    for k, r in enumerate(results):
        if r.gap_closed is not None:
            left.text(r.carbon_kg / 1000.0, k, f" {100 * r.gap_closed:.0f}% of gap",
                      va="center", fontsize=8)
    left.set_xlabel("tCO2 (on actual intensity)")
    right.barh(y, [r.cost_gbp / 1000.0 for r in results], color="tab:blue")
    right.set_xlabel("cost, k£ (Agile A/G)")
    left.set_yticks(y, names)
    left.invert_yaxis()
    fig.suptitle(f"{outcome.evaluation.settings['forecast']} forecasts, "
                 f"{outcome.evaluation.fleet['jobs']} jobs, "
                 f"{outcome.evaluation.fleet['sites']} sites")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(outcome: Outcome, out: Path) -> list[Path]:
    written = [plot_policies(outcome, out / "policies.png")]
    for policy in PLANS:
        if policy in outcome.runs:
            written.append(plot_plan(outcome, policy, out / f"plan-{policy}.png"))
    return written
