"""The Kubernetes actuator against recorded API interactions: the official client talks to a
local HTTP server that checks each request against the next one recorded (method, path, query,
content type, JSON body, bearer token) and answers with the recorded response. The recordings
(tests/unit/fixtures/kubernetes/interactions.json) are written by hand from the API reference."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import pytest
from kubernetes import client

from services.site_agent.actuation import Operation, OpKind, Outcome, Workload
from services.site_agent.k8s import KubernetesActuator, selector

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "kubernetes" /
                       "interactions.json").read_text("utf-8"))
A1 = Workload("job-a", "a1")


class Replay:
    """Serves one scenario's exchanges in order; remembers every mismatch."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.expected = list(exchanges)
        self.served = 0
        self.mismatches: list[str] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                url = urlsplit(self.path)
                got = {"method": self.command, "path": url.path,
                       "query": dict(parse_qsl(url.query)),
                       "content_type": self.headers.get("Content-Type"),
                       "body": json.loads(raw) if raw else None,
                       "authorization": self.headers.get("Authorization")}
                if replay.served >= len(replay.expected):
                    replay.mismatches.append(f"unexpected request {got}")
                    status, body = 500, {"kind": "Status", "code": 500, "message": "unexpected"}
                else:
                    ex = replay.expected[replay.served]
                    replay.served += 1
                    if got != ex["request"]:
                        replay.mismatches.append(f"request {replay.served}: got {got}, "
                                                 f"recorded {ex['request']}")
                    status, body = ex["response"]["status"], ex["response"]["body"]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def actuator(self) -> KubernetesActuator:
        cfg = client.Configuration(host=f"http://127.0.0.1:{self.server.server_port}")
        cfg.api_key = {"BearerToken": "test-token"}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
        return KubernetesActuator(RECORDED["namespace"], client.ApiClient(cfg), timeout_s=5)

    def done(self) -> None:
        assert self.mismatches == []
        assert self.served == len(self.expected), "recorded requests never made"


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Iterator[Replay]:
    with Replay(RECORDED["scenarios"][request.param]["exchanges"]) as replay:
        yield replay


@pytest.mark.parametrize("scenario", ["pause"], indirect=True)
def test_pause_suspends_running_jobs_and_scales_workers_to_zero(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.PAUSE, "cambridge-east", A1))
    scenario.done()
    assert r.outcome == Outcome.APPLIED
    assert r.calls == ("job/llm-a1-shard0 suspend=true", "deployment/llm-a1-workers replicas=0")
    assert r.detail == f"3 object(s) match {selector('degflex.io', A1)}"


@pytest.mark.parametrize("scenario", ["pause_again"], indirect=True)
def test_pause_of_a_paused_workload_writes_nothing(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.MIGRATE_OUT, "cambridge-east", A1))
    scenario.done()
    assert r.outcome == Outcome.ALREADY and r.calls == ()


@pytest.mark.parametrize("scenario", ["resume"], indirect=True)
def test_resume_unsuspends_and_scales_back_to_the_annotated_count(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.RESUME, "cambridge-east", A1))
    scenario.done()
    assert r.outcome == Outcome.APPLIED
    assert r.calls == ("job/llm-a1-shard0 suspend=false", "job/llm-a1-shard1 suspend=false",
                       "deployment/llm-a1-workers replicas=3")


@pytest.mark.parametrize("scenario", ["migrate_in_without_count"], indirect=True)
def test_migrate_in_without_a_replica_count_fails_clearly(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.MIGRATE_IN, "manchester", A1))
    scenario.done()
    assert r.outcome == Outcome.FAILED
    assert r.detail == ("ActuationError: deployment/llm-a1-standby has 0 replicas and no "
                        "degflex.io/active-replicas annotation to scale back to")


@pytest.mark.parametrize("scenario", ["forbidden"], indirect=True)
def test_an_api_refusal_is_a_failed_result_with_the_servers_message(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.PAUSE, "cambridge-east", A1))
    scenario.done()
    assert r.outcome == Outcome.FAILED
    assert r.detail.startswith("Kubernetes API 403 Forbidden: jobs.batch is forbidden: User "
                               "\"system:serviceaccount:degflex:site-agent\" cannot list")


@pytest.mark.parametrize("scenario", ["nothing_matches"], indirect=True)
def test_a_workload_with_no_objects_fails_rather_than_pretending(scenario: Replay) -> None:
    r = scenario.actuator().apply(Operation(OpKind.PAUSE, "cambridge-east", A1))
    scenario.done()
    assert r.outcome == Outcome.FAILED
    assert r.detail == (f"no Job, Deployment or StatefulSet in namespace training matches "
                        f"{selector('degflex.io', A1)}")


def test_an_unreachable_api_server_is_a_failed_result() -> None:
    with Replay([]) as replay:
        port = replay.server.server_port
    cfg = client.Configuration(host=f"http://127.0.0.1:{port}")
    cfg.retries = 0
    r = KubernetesActuator("training", client.ApiClient(cfg), timeout_s=2).apply(
        Operation(OpKind.PAUSE, "cambridge-east", A1))
    assert r.outcome == Outcome.FAILED and "MaxRetryError" in r.detail


def test_ids_that_cannot_be_label_values_are_refused_before_any_request() -> None:
    with Replay([]) as replay:
        r = replay.actuator().apply(
            Operation(OpKind.PAUSE, "cambridge-east", Workload("job a", "a1")))
        replay.done()
    assert r.outcome == Outcome.FAILED
    assert r.detail == "ActuationError: job-id 'job a' is not a valid Kubernetes label value"


def test_battery_setpoints_are_not_kubernetes_business() -> None:
    r = KubernetesActuator("training").apply(Operation(OpKind.SET_BATTERY, "c", battery_kw=150))
    assert r.outcome == Outcome.UNSUPPORTED
