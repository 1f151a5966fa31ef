"""`degflex evaluate` end to end on a small instance (10 jobs, 2 sites, 1 day): the table on
stdout, evaluate.json and the PNGs in --out. Needs no broker; runs in a few seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.evaluate.run import POLICIES, EvaluateConfig, evaluate

SMALL = ["--jobs", "10", "--sites", "2", "--days", "1", "--start", "2023-06-12"]


def test_evaluate_command_writes_the_table_json_and_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "evaluate"
    assert main(["evaluate", *SMALL, "--forecast", "noisy", "--seed", "1",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    for policy in POLICIES:
        assert f"| {policy} |" in table
    doc = json.loads((out / "evaluate.json").read_text())
    assert [r["policy"] for r in doc["results"]] == list(POLICIES)
    for name in ("policies.png", "plan-run-now.png", "plan-degflex-forecast.png",
                 "plan-degflex-perfect.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_small_evaluation_is_feasible_and_degflex_beats_run_now(tmp_path: Path) -> None:
    ev = evaluate(EvaluateConfig(jobs=10, sites=2, days=1, out=tmp_path)).evaluation
    for r in ev.results:
        assert r.violations == 0, r.policy
    assert ev.result("run-now").gap_closed == 0.0
    assert ev.result("degflex-perfect").gap_closed == 1.0
    assert ev.result("degflex-forecast").deadline_misses == 0
    assert ev.result("degflex-forecast").carbon_kg < ev.result("run-now").carbon_kg
    assert ev.split["joint_kg"] == pytest.approx(
        ev.result("run-now").carbon_kg - ev.result("degflex-perfect").carbon_kg)


def test_persistence_before_the_traces_allow_it_is_an_error(tmp_path: Path) -> None:
    assert main(["evaluate", "--jobs", "3", "--days", "1", "--start", "2023-06-05",
                 "--forecast", "persistence", "--out", str(tmp_path)]) == 2


def test_a_horizon_past_the_traces_is_an_error(tmp_path: Path) -> None:
    assert main(["evaluate", "--jobs", "3", "--days", "2", "--start", "2023-06-26",
                 "--out", str(tmp_path)]) == 2


def test_python_m_services_evaluate_takes_the_same_options(capsys) -> None:
    from services.evaluate.__main__ import _main
    with pytest.raises(SystemExit) as exit_:
        _main(["--help"])
    assert exit_.value.code == 0
    assert "--forecast {perfect,persistence,noisy}" in capsys.readouterr().out


def test_stdout_carries_the_report_only_no_solver_banner(tmp_path: Path) -> None:
    """HiGHS prints a banner from its first constructor call, to file descriptor 1, before
    any option applies; a fresh process shows whether the evaluation silenced it."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "services.evaluate", *SMALL, "--jobs", "3",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "HiGHS" not in done.stdout
    assert done.stdout.startswith("3 jobs, 2 sites")
