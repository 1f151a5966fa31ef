"""deploy/prometheus: promtool accepts both scrape configs and the alerting rules, the rules use
only metrics the services export, and each alert fires on the situation it describes (promtool
rule unit tests over synthetic series) and stays quiet on a healthy service."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.topics import SERVICES
from services.common.metrics import stream_metrics

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install prometheus); .ci/run should install it")


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text("utf-8"))
    return [r for group in doc["groups"] for r in group["rules"]]


@needs_promtool
@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-local.yml"])
def test_promtool_accepts_the_scrape_config(config: str) -> None:
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_targets_cover_every_service_with_the_same_labels() -> None:
    targets = json.loads((PROM / "local-targets.json").read_text("utf-8"))
    by_service = {t["labels"]["service"]: t for t in targets}
    assert set(by_service) == set(SERVICES)
    for name, target in by_service.items():
        assert target["labels"] == {"job": name, "service": name, "part_of": "degflex"}
        (address,) = target["targets"]
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address)
    local = yaml.safe_load((PROM / "prometheus-local.yml").read_text("utf-8"))
    (job,) = local["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == ["local-targets.json"]


def test_rules_use_only_metrics_the_services_export() -> None:
    exported = {"up"}
    for metric in stream_metrics().registry.collect():
        exported.add(metric.name)
        exported.update(sample.name for sample in metric.samples)
    exported.update(f"{m}_total" for m in list(exported))
    for rule in rules():
        names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\{", rule["expr"]))
        assert names <= exported, (rule["alert"], names - exported)
        assert 'part_of="degflex"' in rule["expr"], rule["alert"]


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def series(metric: str, service: str, values: str, **labels: str) -> dict[str, str]:
    all_labels = {"service": service, "job": service, "part_of": "degflex",
                  "instance": f"{service}:8080", **labels}
    body = ",".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
    return {"series": f"{metric}{{{body}}}", "values": values}


def alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"exp_labels": {"severity": severity, **labels}}


CALLBACKS = "beckn.callbacks.v1"
# One hour at one sample a minute: an unhealthy planner and load-shifter beside a healthy
# settlement, which must raise nothing.
INPUT = [
    series("up", "planner", "1 1 1 0x57"),
    series("up", "settlement", "1x59"),
    series("stream_ready", "grid-signal", "0x59"),
    series("stream_ready", "settlement", "1x59"),
    series("stream_dead_letters_total", "planner", "0 0 0 3x56", reason="invalid_json"),
    series("stream_dead_letters_total", "settlement", "2x59", reason="handler_error"),
    series("stream_consumer_lag_records", "load-shifter", "5000x59", topic=CALLBACKS,
           partition="0"),
    series("stream_consumer_lag_records", "settlement", "0x59", topic=CALLBACKS, partition="0"),
    series("stream_messages_consumed_total", "load-shifter", "40x59", topic=CALLBACKS,
           type="beckn.on_update", outcome="ok"),
    series("stream_messages_consumed_total", "settlement", "0+10x59", topic=CALLBACKS,
           type="beckn.on_update", outcome="ok"),
    series("stream_messages_produced_total", "grid-signal", "0+10x59", topic=CALLBACKS),
]
TIMELINE = [
    (3, "DegflexServiceDown", []),
    (20, "DegflexServiceDown", [alert("DegflexServiceDown", "critical", service="planner",
                                      job="planner", part_of="degflex",
                                      instance="planner:8080")]),
    (20, "DegflexServiceNotReady", [alert("DegflexServiceNotReady", "warning",
                                          service="grid-signal", job="grid-signal",
                                          part_of="degflex", instance="grid-signal:8080")]),
    (5, "DegflexDeadLetters", [alert("DegflexDeadLetters", "warning", service="planner",
                                     reason="invalid_json")]),
    (20, "DegflexDeadLetters", []),
    (20, "DegflexConsumerLagHigh", [alert("DegflexConsumerLagHigh", "warning",
                                          service="load-shifter", topic=CALLBACKS)]),
    (20, "DegflexConsumerStalled", [alert("DegflexConsumerStalled", "critical",
                                          service="load-shifter")]),
    (30, "DegflexConsumerFallingBehind", [alert("DegflexConsumerFallingBehind", "warning",
                                                service="load-shifter", topic=CALLBACKS)]),
]


@needs_promtool
def test_alerts_fire_on_their_symptoms_only(tmp_path: Path) -> None:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text("utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")  # templates are promtool check rules' business
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(doc), "utf-8")
    assert {name for _, name, _ in TIMELINE} == {r["alert"] for r in rules()}
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": INPUT,
            "alert_rule_test": [{"eval_time": f"{minute}m", "alertname": name,
                                 "exp_alerts": expected}
                                for minute, name, expected in TIMELINE],
        }],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests), "utf-8")
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_shared_metrics_pass_promtool_lint() -> None:
    from prometheus_client import generate_latest

    m = stream_metrics()
    m.consumed.labels("beckn.callbacks.v1", "beckn.on_update", "ok").inc()
    m.produced.labels("site.commands.v1").inc()
    m.dead_letters.labels("invalid_json").inc()
    m.handler_seconds.observe(0.001)
    m.replayed.labels("beckn.callbacks.v1").inc()
    m.response_seconds.labels("beckn.on_update").observe(0.015)
    m.lag.labels("beckn.callbacks.v1", "0").set(0)
    m.ready.set(1)
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "metrics"], check=False,
                            input=generate_latest(m.registry), capture_output=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
