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


def test_state_changing_endpoints_need_the_bearer_token_health_and_metrics_stay_open() -> None:
    from pydantic import SecretStr

    m = stream_metrics()
    app = make_app("planner", m.registry, lambda: True, SecretStr("s3cret-token"))
    changed: list[str] = []

    @app.post("/admin/pause")
    def pause() -> dict[str, str]:
        changed.append("paused")
        return {"status": "paused"}

    client = TestClient(app)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    assert client.post("/admin/pause").status_code == 401
    assert client.post("/admin/pause").headers["www-authenticate"].startswith("Bearer")
    assert client.post("/admin/pause", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/admin/pause", headers={"Authorization": "Basic s3cret-token"}
                       ).status_code == 401
    assert client.post("/metrics").status_code == 401  # only reads are open
    assert changed == []
    ok = client.post("/admin/pause", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and changed == ["paused"]


def test_without_a_token_state_changing_endpoints_are_refused() -> None:
    m = stream_metrics()
    app = make_app("planner", m.registry, lambda: True)

    @app.post("/admin/pause")
    def pause() -> dict[str, str]:
        raise AssertionError("must not run")

    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    r = client.post("/admin/pause", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 401 and "no http_token" in r.json()["detail"]
