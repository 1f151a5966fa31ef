"""Settlement's live view: what the /live page shows, projected from the records settlement
handles (through its real handlers, tapped), and the server-sent event stream of snapshots."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.common.http import make_app
from services.common.live import live_router, sse, stream
from services.common.metrics import stream_metrics
from services.common.runner import HandlerRejected
from services.settlement.handlers import HANDLERS, SettlementState
from services.settlement.live import LiveView, page, tap

from .factories import (
    CAMBRIDGE,
    MANCHESTER,
    STRESS_ID,
    at,
    env,
    feed,
    inbound,
    reading,
    settlement_day,
)


def _day(view: LiveView, *, settle: bool = True) -> None:
    """The seed day through settlement's own handlers, tapped by the view (the meters close the
    day last, after the response and the verification)."""
    d = settlement_day()
    feed(tap(HANDLERS, view), SettlementState(),
         [*d.signals, *d.confirmations, *d.stress, *d.response, *d.readings, *d.verification,
          *(d.closures if settle else [])])


def test_sites_show_their_latest_interval_in_kw() -> None:
    view = LiveView()
    handlers = tap(HANDLERS, view)
    st = SettlementState()
    # 14:00-14:01 at Cambridge: 15 kWh of load, 2.5 kWh from the battery -> 900 / 150 / 750 kW
    r = reading(CAMBRIDGE, "14:00", "14:01", 15, battery_kwh=2.5)
    r = r.model_copy(update={"battery_soc_pct": 77.5})
    handlers[r.TYPE](st, inbound(env(r)))
    (site,) = view.snapshot()["sites"]
    assert (site["load_kw"], site["battery_kw"], site["import_kw"]) == pytest.approx(
        (900, 150, 750))
    assert site["battery_soc_pct"] == 77.5
    assert site["as_of"] == at("14:01").isoformat()
    assert view.snapshot()["as_of"] == at("14:01").isoformat()


def test_an_older_interval_does_not_overwrite_the_latest() -> None:
    view = LiveView()
    handlers = tap(HANDLERS, view)
    st = SettlementState()
    for r in (reading(CAMBRIDGE, "14:00", "14:01", 15), reading(CAMBRIDGE, "13:59", "14:00", 20)):
        handlers[r.TYPE](st, inbound(env(r)))
    (site,) = view.snapshot()["sites"]
    assert site["load_kw"] == pytest.approx(900)
    assert site["series"] == [[at("13:50").isoformat(), 1200], [at("14:00").isoformat(), 900]]


def test_the_seed_day_as_the_page_shows_it() -> None:
    view = LiveView()
    _day(view)
    snap = view.snapshot()
    cam, man = snap["sites"]
    assert (cam["site_id"], cam["zone"], man["site_id"], man["zone"]) == (
        CAMBRIDGE, "UK-EAST", MANCHESTER, "UK-NW")
    # the chart: 10-minute buckets of hourly readings, so 1200 at 13:00 and 900 at 14:00
    cam_series = dict(cam["series"])
    assert cam_series[at("13:00").isoformat()] == 1200
    assert cam_series[at("14:00").isoformat()] == 900
    assert dict(man["series"])[at("15:00").isoformat()] == 1500
    (ev,) = snap["stress"]
    assert ev["event_id"] == STRESS_ID and ev["requested_kw"] == {CAMBRIDGE: 450}
    assert ev["loads_kw"][CAMBRIDGE] == {"before": 1200, "after": 900}
    assert ev["loads_kw"][MANCHESTER] == {"before": 0, "after": 1500}
    # both orders completed with the statement's figures
    assert [(o["order_id"], o["state"], o["capacity_kw"]) for o in snap["orders"]] == [
        ("order-cambridge-east-20251117", "COMPLETED", 1500),
        ("order-manchester-20251117", "COMPLETED", 1500)]
    assert all(o["cost_gbp"] > 0 for o in snap["orders"])
    kinds = [e["kind"] for e in snap["events"]]  # newest first
    assert kinds == ["settled", "verified", "response", "stress", "order", "order"]
    texts = " | ".join(e["text"] for e in snap["events"])
    assert "300 kW of training moved to manchester, battery 150 kW" in texts
    assert "450 kW delivered (100% of 450 kW), delivered" in texts
    assert "renewables 45%, price +0.03 £/kWh, 450 kW asked of cambridge-east" in texts
    east = {z["zone"]: z for z in snap["zones"]}["UK-EAST"]
    assert east["period_start"] == at("23:30").isoformat()  # the last period in force


def test_orders_stay_confirmed_until_the_day_settles() -> None:
    view = LiveView()
    _day(view, settle=False)
    assert {o["state"] for o in view.snapshot()["orders"]} == {"CONFIRMED"}
    assert all(o["cost_gbp"] is None for o in view.snapshot()["orders"])


def test_every_handled_record_moves_the_version_and_a_rejected_one_does_not() -> None:
    view = LiveView()
    handlers = tap(HANDLERS, view)
    st = SettlementState()
    r = reading(CAMBRIDGE, "14:00", "14:01", 15)
    handlers[r.TYPE](st, inbound(env(r)))
    assert view.version == 1

    def refuse(state: Any, m: Any) -> Any:
        raise HandlerRejected("bad", "no")

    with pytest.raises(HandlerRejected):
        tap({r.TYPE: refuse}, view)[r.TYPE](st, inbound(env(r)))
    assert view.version == 1


def test_the_stream_pushes_the_snapshot_then_each_change() -> None:
    view = LiveView()
    stops = iter([False, False, False, True])

    async def closed() -> bool:
        return next(stops)

    async def collect() -> list[str]:
        out = []
        async for chunk in stream(view, closed, every_s=0.001):
            out.append(chunk)
            if len(out) == 2:  # after the first snapshot, a reading arrives
                r = reading(CAMBRIDGE, "14:00", "14:01", 15)
                tap(HANDLERS, view)[r.TYPE](SettlementState(), inbound(env(r)))
        return out

    chunks = asyncio.run(collect())
    assert chunks[0] == "retry: 1000\n\n"
    first, second = chunks[1:]
    assert first.startswith("id: 0\nevent: state\ndata: ")
    assert json.loads(first.split("data: ", 1)[1])["sites"] == []
    assert second.startswith("id: 1\n")
    assert json.loads(second.split("data: ", 1)[1])["sites"][0]["load_kw"] == pytest.approx(900)


def test_an_sse_message_is_one_data_line() -> None:
    assert sse("state", {"a": "x\ny"}, 3) == 'id: 3\nevent: state\ndata: {"a":"x\\ny"}\n\n'


def test_the_service_serves_the_page_and_the_snapshot() -> None:
    view = LiveView()
    _day(view)
    app = make_app("settlement", stream_metrics().registry, lambda: True,
                   SecretStr("s3cret-token"), [live_router(view, page())])
    client = TestClient(app)
    html = client.get("/live")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert 'new EventSource("/live/stream")' in html.text
    assert "<script src" not in html.text and "<link" not in html.text  # nothing from elsewhere
    state = client.get("/live/state").json()
    assert state == json.loads(json.dumps(view.snapshot()))
    assert client.get("/healthz").json()["service"] == "settlement"
    # read-only like /metrics: open without the token; anything else still needs it
    assert client.post("/live").status_code == 401
