"""The HTTP face every service shares: health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.common.http import make_app
from services.common.metrics import stream_metrics


def test_readyz_follows_the_runner_and_metrics_expose_stream_families() -> None:
    m = stream_metrics()
    ready = {"now": False}
    client = TestClient(make_app("planner", m.registry, lambda: ready["now"]))
    assert client.get("/healthz").json() == {"status": "ok", "service": "planner"}
    assert client.get("/readyz").status_code == 503
    ready["now"] = True
    assert client.get("/readyz").status_code == 200
    m.consumed.labels("t", "sim.clock.advanced", "ok").inc(3)
    body = client.get("/metrics").text
    assert 'stream_messages_consumed_total{outcome="ok",topic="t",type="sim.clock.advanced"} 3.0' in body
    assert "stream_response_seconds" in body
