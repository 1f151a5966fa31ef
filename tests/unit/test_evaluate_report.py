"""The figures reported per policy: the gap-closed share, migrations, the table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.evaluate.policies import PolicyRun, scored
from services.evaluate.report import (
    Evaluation,
    PolicyResult,
    gap_closed,
    markdown,
    migrations,
    result_of,
    with_gaps,
)
from services.planner.optimiser.model import Grid, Job, Problem, Site


def test_gap_closed_is_the_share_of_run_now_minus_perfect() -> None:
    assert gap_closed(run_now_kg=100.0, policy_kg=70.0, perfect_kg=60.0) == pytest.approx(0.75)
    assert gap_closed(100.0, 100.0, 60.0) == 0.0
    assert gap_closed(100.0, 60.0, 60.0) == 1.0


def test_gap_closed_is_negative_for_a_policy_worse_than_run_now() -> None:
    assert gap_closed(100.0, 120.0, 60.0) == pytest.approx(-0.5)


def test_gap_closed_is_undefined_without_a_gap() -> None:
    assert gap_closed(100.0, 90.0, 100.0) is None


def _problem() -> Problem:
    grid = Grid(zones=("A", "B"), slot_hours=0.5, start=datetime(2023, 6, 12, tzinfo=UTC),
                price={"A": [0.1] * 4, "B": [0.1] * 4}, carbon={"A": [100.0] * 4,
                                                                "B": [50.0] * 4})
    jobs = (Job("x", 100.0, 100.0, 0, 4, "sa"), Job("y", 100.0, 100.0, 0, 4, "sb"),
            Job("z", 150.0, 100.0, 0, 4, "sa"))
    return Problem(jobs=jobs, sites=(Site("sa", "A", 500.0), Site("sb", "B", 500.0)), grid=grid)


def test_migrations_count_jobs_away_from_home_and_site_changes() -> None:
    p = _problem()
    run = {("x", "sb", 0): 100.0, ("x", "sb", 1): 100.0,  # away, no change
           ("y", "sb", 0): 100.0, ("y", "sb", 1): 100.0,  # home
           ("z", "sa", 0): 100.0, ("z", "sb", 1): 100.0, ("z", "sa", 3): 100.0}  # 2 changes
    assert migrations(p, scored(p, run, "t", 0.0)) == (2, 2)


def test_result_counts_misses_and_violations() -> None:
    p = _problem()
    run = {("x", "sa", 0): 100.0, ("x", "sa", 1): 100.0, ("y", "sb", 0): 100.0,
           ("z", "sa", 0): 999.0}
    r = result_of("p", p, PolicyRun(scored(p, run, "t", 0.0), "heuristic", 0, 0.0))
    assert r.deadline_misses == 1  # y got 50 of 100 kWh (z got more than it needs)
    assert r.unmet_kwh == pytest.approx(50.0)
    assert r.violations >= 2  # z over its power, and over its energy


def _result(policy: str, carbon: float, objective: float = 1.0) -> PolicyResult:
    return PolicyResult(policy=policy, cost_gbp=1.0, carbon_kg=carbon, objective_gbp=objective,
                        deadline_misses=0, unmet_kwh=0.0, migrations=0, site_changes=0,
                        violations=0, runtime_s=0.0, solver="heuristic", solves=0)


def test_with_gaps_fills_every_policy_from_run_now_and_perfect() -> None:
    out = with_gaps([_result("run-now", 200.0, 50.0), _result("x", 150.0, 45.0),
                     _result("degflex-perfect", 100.0, 40.0)])
    assert [r.gap_closed for r in out] == [0.0, 0.5, 1.0]
    assert [r.objective_gap_closed for r in out] == [0.0, 0.5, 1.0]


def test_markdown_has_a_row_per_policy() -> None:
    ev = Evaluation(settings={"days": 1, "start": "2023-06-12", "forecast": "noisy", "seed": 1,
                              "carbon_price_gbp_per_t": 1000.0},
                    fleet={"jobs": 2, "sites": 2, "site_ids": ["a", "b"], "slots": 10},
                    results=tuple(with_gaps([_result("run-now", 200.0),
                                             _result("degflex-perfect", 100.0)])),
                    notes=("a note",))
    text = markdown(ev)
    assert "| run-now | 1 | 200 | 0.0% | n/a |" in text  # same objective: no objective gap
    assert "| degflex-perfect | 1 | 100 | 100.0% | n/a |" in text
    assert text.rstrip().endswith("- a note")
