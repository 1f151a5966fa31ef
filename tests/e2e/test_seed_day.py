"""The seed day across the real processes: six services, a real broker, two replay speeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts.beckn.conformance import beckn_errors

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[2]


def run_demo(bootstrap: str, out: Path, speed: float) -> dict[str, Any]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    prefix = f"e2e.{uuid.uuid4().hex[:8]}."
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--out", str(out), "--prefix", prefix,
         "--speed", str(speed)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "replayed to 12:00" in proc.stderr  # progress is shown
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def two_runs(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[dict[str, Any], dict[str, Any], Path]:
    fast_out = tmp_path_factory.mktemp("fast")
    fast = run_demo(kafka_bootstrap, fast_out, 0)
    slow = run_demo(kafka_bootstrap, tmp_path_factory.mktemp("slow"), 14_400)
    return fast, slow, fast_out


def test_seed_day_matches_hand_worked_figures(two_runs: tuple[Any, Any, Path]) -> None:
    s, _, _ = two_runs
    cam, man = s["sites"]["cambridge-east"], s["sites"]["manchester"]
    # Cambridge runs batch-a 1200 kW 10:00-16:00; at 14:00 300 kW moves out, battery gives 150.
    assert cam["load_kw_before_event"] == pytest.approx(1200)
    assert cam["load_kw_after_event"] == pytest.approx(900)
    assert cam["grid_import_kw_after_event"] == pytest.approx(750)
    # Manchester runs batch-b 1200 kW 14:00-18:00 and takes the 300 kW 14:00-16:00.
    assert man["load_kw_before_event"] == pytest.approx(1200)
    assert man["load_kw_after_event"] == pytest.approx(1500)
    # Cambridge energy: 4800 (10-14) + 750*2 (14-16) + recharge 150*2/0.9 = 333.33 (22:00-23:40)
    assert cam["energy_kwh"] == pytest.approx(4800 + 1500 + 300 / 0.9)
    # Cambridge cost: 1200*(0.098 + 2*0.102 + 0.106) = 489.60; 1500*0.132 = 198; 333.33*0.070
    assert cam["cost_gbp"] == pytest.approx(489.60 + 198.00 + 300 / 0.9 * 0.070, abs=1e-3)
    # Cambridge carbon: 1200*(42 + 2*36 + 30) g = 172.8 kg; 1500*134 g = 201; 333.33*78 g = 26
    assert cam["carbon_kg"] == pytest.approx(172.8 + 201.0 + 26.0, abs=1e-3)
    # Manchester: 1500*2 + 1200*2 = 5400 kWh at 0.092, 50 g
    assert man["energy_kwh"] == pytest.approx(5400)
    assert man["cost_gbp"] == pytest.approx(496.80, abs=1e-3)
    assert man["carbon_kg"] == pytest.approx(270.0, abs=1e-3)
    f, t = s["flexibility"], s["totals"]
    assert f["shifted_kw"] == pytest.approx(300)
    assert f["battery_kw"] == pytest.approx(150)
    assert f["verified_kw"] == pytest.approx(450)  # nominated 1200 - metered import 750
    assert f["verified_kwh"] == pytest.approx(900)
    assert f["net_system_kw"] == pytest.approx(150)  # 450 less Manchester's +300
    assert f["payment_gbp"] == pytest.approx(135)  # 150 £/MWh * 0.9 MWh * factor 1
    # Baseline (no flex): Cambridge 489.60 + 2400*0.132 = 316.80; Manchester 4800*0.092 = 441.60
    assert t["baseline_cost_gbp"] == pytest.approx(1248.00, abs=1e-3)
    assert t["actual_cost_gbp"] == pytest.approx(1207.7333, abs=1e-3)
    assert t["cost_reduction_pct"] == pytest.approx(100 * (1248 - 1207.73333) / 1248, abs=1e-3)
    # Carbon baseline: 1200*(42 + 2*36 + 30) = 172.8 + 2400*0.134 + 4800*0.050 = 734.4 kg;
    # actual 172.8 + 1500*0.134 = 201 + 333.33*0.078 = 26 + 5400*0.050 = 270 -> 669.8 kg
    assert t["baseline_carbon_kg"] == pytest.approx(734.4, abs=1e-3)
    assert t["actual_carbon_kg"] == pytest.approx(669.8, abs=1e-3)
    assert t["carbon_reduction_pct"] == pytest.approx(100 * 64.6 / 734.4, abs=1e-3)
    assert s["dead_letters"] == 0
    assert 0 < s["response_latency_ms"] < 5000
    assert cam["missing_readings"] == 0 and man["missing_readings"] == 0


def test_same_summary_at_two_speeds(two_runs: tuple[Any, Any, Path]) -> None:
    fast, slow, _ = two_runs
    for s in (fast, slow):
        s.pop("response_latency_ms")
    assert fast == slow


def test_every_beckn_message_conforms_to_the_official_schema(
        two_runs: tuple[Any, Any, Path]) -> None:
    _, _, out = two_runs
    lines = (out / "beckn-messages.jsonl").read_text().splitlines()
    actions = [json.loads(line)["context"]["action"] for line in lines]
    # discover, 2 orders x (select, init, confirm) and callbacks, the stress event, two updates
    # and their answers, two on_status
    assert actions.count("discover") == 1 and actions.count("on_discover") == 1
    for a in ("select", "on_select", "init", "on_init", "confirm", "on_confirm", "update",
              "on_status"):
        assert actions.count(a) == 2, a
    assert actions.count("on_update") == 3
    for line in lines:
        assert beckn_errors(json.loads(line)) == []


def test_the_demo_writes_the_settlement_report(two_runs: tuple[Any, Any, Path]) -> None:
    _, _, out = two_runs
    day = out / "report" / "2025-11-17"
    costs = (day / "costs.csv").read_text().splitlines()
    # scope,site,order,txn, baseline, actual, saving, %, recharge, saving before recharge,
    # utilisation, availability, net benefit (40.27 + 135), net bill (1207.73 - 135)
    assert costs[1] == ("day,,,,1248.0,1207.733333,40.266667,3.2265,23.333333,63.6,135.0,0.0,"
                        "175.266667,1072.733333")
    doc = json.loads((day / "report.json").read_text())
    assert [r["baseline_kg"] for r in doc["carbon"][:1]] == [734.4]
    assert len(list((day / "transactions").glob("*.json"))) == 2
    assert (day / "report.html").read_text().count("<svg") == 3


def test_every_beckn_message_is_signed_by_its_sender_with_a_key_made_for_the_run(
        two_runs: tuple[Any, Any, Path]) -> None:
    from services.common.registry import FileRegistry
    from services.common.signing import parse, verify

    _, _, out = two_runs
    bodies = (out / "beckn-messages.jsonl").read_bytes().splitlines()
    sigs = [json.loads(line)["authorization"]
            for line in (out / "beckn-signatures.jsonl").read_text().splitlines()]
    registry = FileRegistry.load(out / "keys" / "registry.json")
    assert len(bodies) == len(sigs) > 20 and len(registry) == 4
    signers = set()
    for body, text in zip(bodies, sigs, strict=True):
        sig = parse(text)
        entry = registry.lookup(sig.key_id.subscriber_id, sig.key_id.unique_key_id)
        assert entry is not None
        verify(body, sig, entry.signing_public_key, now=sig.created)
        ctx = json.loads(body)["context"]
        sender = ctx["bpp_id"] if ctx["action"].startswith("on_") else ctx["bap_id"]
        assert entry.subscriber_id == sender
        signers.add(sig.key_id.unique_key_id)
    assert len(signers) == 4  # planner, load-shifter (BAP); grid-signal, settlement (BPP)
    for key_file in (out / "keys").glob("*.key"):
        assert key_file.stat().st_mode & 0o777 == 0o600
    logs = "".join(p.read_text(errors="replace") for p in (out / "logs").glob("*.log"))
    for key_file in (out / "keys").glob("*.key"):
        assert key_file.read_text().strip()[:24] not in logs
