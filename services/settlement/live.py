"""Settlement's live view: sites, zones, orders and the day's events, projected from the records
settlement consumes (and the statement it produces), for the read-only page at /live.

Settlement reads everything the page needs: meter readings (site load, import, battery), zone
signals, the grid's on_confirm and stress on_update callbacks, CompFlex's responses and the
verifications. The view is fed by `tap`, which wraps settlement's handlers, so it is rebuilt
with the state on a restart and sees each message id once. Times are event times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.beckn.models import BecknMessage, OrderStatus
from contracts.compute_energy.vocab import GridStressEvent, OrderLine
from contracts.envelope import Envelope
from contracts.events import (
    FlexibilityVerified,
    MeterReadingRecorded,
    ResponseDispatched,
    SettlementStatementIssued,
    ZoneSignalPublished,
)
from services.common.beckn import order_of
from services.common.runner import Handler, Inbound, Out

BUCKET = timedelta(minutes=10)
"""The load chart's resolution: the last reading of each 10 minutes."""
FEED = 40
"""How many of the latest events the page lists."""


@dataclass
class SiteView:
    site_id: str
    zone: str | None = None
    load_kw: float | None = None
    import_kw: float | None = None
    battery_kw: float | None = None
    battery_soc_pct: float | None = None
    as_of: datetime | None = None
    series: dict[datetime, float] = field(default_factory=dict)  # bucket -> load kW
    latest: dict[datetime, datetime] = field(default_factory=dict)  # bucket -> reading start


@dataclass
class OrderView:
    order_id: str
    transaction_id: str
    site_id: str
    zone: str
    capacity_kw: float
    start: datetime
    end: datetime
    state: str = "CONFIRMED"
    cost_gbp: float | None = None
    carbon_kg: float | None = None
    flex_payment_gbp: float | None = None


@dataclass
class StressView:
    event: GridStressEvent
    sites: dict[str, float] = field(default_factory=dict)  # site -> requested kW


@dataclass(frozen=True)
class FeedItem:
    time: datetime
    kind: str
    text: str


def _kw(kwh: float, start: datetime, end: datetime) -> float:
    return kwh / ((end - start).total_seconds() / 3600)


def _bucket(t: datetime) -> datetime:
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + (t - day) // BUCKET * BUCKET


@dataclass
class LiveView:
    """What the page shows; `version` moves on every change (the SSE stream watches it)."""

    version: int = 0
    as_of: datetime | None = None
    sites: dict[str, SiteView] = field(default_factory=dict)
    zones: dict[str, ZoneSignalPublished] = field(default_factory=dict)
    orders: dict[str, OrderView] = field(default_factory=dict)
    stresses: dict[str, StressView] = field(default_factory=dict)
    feed: deque[FeedItem] = field(default_factory=lambda: deque(maxlen=FEED))

    def _site(self, site_id: str) -> SiteView:
        return self.sites.setdefault(site_id, SiteView(site_id))

    def _say(self, time: datetime, kind: str, text: str) -> None:
        self.feed.append(FeedItem(time, kind, text))

    def apply(self, m: Inbound, outs: Sequence[Out]) -> None:
        """Take one handled input (and what settlement produced from it) into the view."""
        value = m.value.payload if isinstance(m.value, Envelope) else m.value
        if isinstance(value, MeterReadingRecorded):
            self._reading(value)
        elif isinstance(value, ZoneSignalPublished):
            old = self.zones.get(value.zone)
            if old is None or value.period_start >= old.period_start:
                self.zones[value.zone] = value
        elif isinstance(value, BecknMessage) and m.kind == "beckn.on_confirm":
            self._confirmed(value)
        elif isinstance(value, BecknMessage) and m.kind == "beckn.on_update":
            self._stress(value)
        elif isinstance(value, ResponseDispatched):
            self._response(value)
        elif isinstance(value, FlexibilityVerified):
            self._verified(value)
        for out in outs:
            if isinstance(out.value, Envelope) and isinstance(out.value.payload,
                                                              SettlementStatementIssued):
                self._settled(out.value.payload)
        self.version += 1

    def _reading(self, r: MeterReadingRecorded) -> None:
        s = self._site(r.site_id)
        load = _kw(r.load_kwh, r.start, r.end)
        bucket = _bucket(r.start)
        kept = s.latest.get(bucket)
        if kept is None or r.start >= kept:
            s.latest[bucket] = r.start
            s.series[bucket] = load
        if s.as_of is not None and r.end < s.as_of:
            return  # an older interval: the chart keeps it, the "now" figures do not
        s.load_kw = load
        s.import_kw = _kw(r.import_kwh, r.start, r.end)
        s.battery_kw = _kw(r.battery_discharge_kwh, r.start, r.end)
        s.battery_soc_pct = r.battery_soc_pct
        s.as_of = r.end
        first = r.end - timedelta(days=1)
        for t in [t for t in s.series if t < first]:
            del s.series[t], s.latest[t]
        self.as_of = max(self.as_of or r.end, r.end)

    def _confirmed(self, msg: BecknMessage) -> None:
        order = order_of(msg)
        lines = [i.attributes for i in order.items if isinstance(i.attributes, OrderLine)]
        if order.status != OrderStatus.CONFIRMED or not lines:
            return
        cap = max(ln.confirmed_capacity_kw or ln.capacity_kw for ln in lines)
        o = OrderView(order.id, msg.context.transaction_id, lines[0].site_id,
                      lines[0].grid_zone, cap, min(ln.slot_start for ln in lines),
                      max(ln.slot_end for ln in lines))
        self.orders[o.transaction_id] = o
        self._site(o.site_id).zone = o.zone
        self._say(msg.context.timestamp, "order",
                  f"order {o.order_id} confirmed: {o.site_id} ({o.zone}) up to {cap:g} kW, "
                  f"{o.start:%H:%M}-{o.end:%H:%M}")

    def _stress(self, msg: BecknMessage) -> None:
        order = order_of(msg)
        ev = order.attributes
        if not isinstance(ev, GridStressEvent):
            return
        lines = [i.attributes for i in order.items if isinstance(i.attributes, OrderLine)]
        site = lines[0].site_id if lines else "?"
        view = self.stresses.get(ev.event_id)
        if view is None:
            view = self.stresses[ev.event_id] = StressView(ev)
            self._say(ev.start, "stress",
                      f"grid stress {ev.event_id} in {ev.grid_zone} {ev.start:%H:%M}-"
                      f"{ev.end:%H:%M}: renewables {ev.renewable_pct:g}%, price "
                      f"{ev.price_delta_gbp_per_kwh:+g} £/kWh, {ev.requested_reduction_kw:g} kW "
                      f"asked of {site}")
        view.sites[site] = ev.requested_reduction_kw

    def _response(self, r: ResponseDispatched) -> None:
        moved = f" to {', '.join(r.shifted_to)}" if r.shifted_to else ""
        short = f", {r.shortfall_kw:g} kW short" if r.shortfall_kw else ""
        self._say(r.start, "response",
                  f"CompFlex at {r.site_id}: {r.shifted_kw:g} kW of training moved{moved}, "
                  f"battery {r.battery_kw:g} kW{short}")

    def _verified(self, v: FlexibilityVerified) -> None:
        self._say(v.end, "verified",
                  f"meters verify {v.site_id}: {v.delivered_kw:g} kW delivered "
                  f"({v.delivered_pct:g}% of {v.requested_kw:g} kW), {v.verdict.value}")

    def _settled(self, st: SettlementStatementIssued) -> None:
        for o in st.orders:
            view = self.orders.get(o.transaction_id)
            if view is not None:
                view.state = "COMPLETED"
                view.cost_gbp, view.carbon_kg = o.cost_gbp, o.carbon_kg
                view.flex_payment_gbp = o.flex_payment_gbp
        self._say(st.day_end, "settled",
                  f"day settled: £{st.actual_cost_gbp:,.2f} (baseline £{st.baseline_cost_gbp:,.2f}), "
                  f"{st.actual_carbon_kg:,.1f} kg CO2 (baseline {st.baseline_carbon_kg:,.1f}), "
                  f"flexibility paid £{st.flex_payment_gbp:,.2f}")

    def event_loads(self, ev: GridStressEvent) -> dict[str, tuple[float | None, float | None]]:
        """Each site's load just before the event and in its first interval (from the chart:
        its last point before the start, its first point within the event)."""
        out: dict[str, tuple[float | None, float | None]] = {}
        for sid, s in sorted(self.sites.items()):
            before = [t for t in s.series if t < ev.start]
            during = [t for t in s.series if ev.start <= t < ev.end]
            out[sid] = (s.series[max(before)] if before else None,
                        s.series[min(during)] if during else None)
        return out

    def snapshot(self) -> dict[str, Any]:
        iso = lambda t: None if t is None else t.isoformat()
        return {
            "version": self.version,
            "as_of": iso(self.as_of),
            "sites": [{
                "site_id": s.site_id, "zone": s.zone, "load_kw": s.load_kw,
                "import_kw": s.import_kw, "battery_kw": s.battery_kw,
                "battery_soc_pct": s.battery_soc_pct, "as_of": iso(s.as_of),
                "series": [[iso(t), kw] for t, kw in sorted(s.series.items())],
            } for s in sorted(self.sites.values(), key=lambda s: s.site_id)],
            "zones": [{
                "zone": z.zone, "period_start": iso(z.period_start),
                "period_end": iso(z.period_end), "renewable_pct": z.renewable_pct,
                "carbon_g_per_kwh": z.carbon_g_per_kwh,
                "price_gbp_per_kwh": z.price_gbp_per_kwh, "stress_event_id": z.stress_event_id,
            } for z in sorted(self.zones.values(), key=lambda z: z.zone)],
            "orders": [{
                "order_id": o.order_id, "transaction_id": o.transaction_id,
                "site_id": o.site_id, "zone": o.zone, "capacity_kw": o.capacity_kw,
                "start": iso(o.start), "end": iso(o.end), "state": o.state,
                "cost_gbp": o.cost_gbp, "carbon_kg": o.carbon_kg,
                "flex_payment_gbp": o.flex_payment_gbp,
            } for o in sorted(self.orders.values(), key=lambda o: o.site_id)],
            "stress": [{
                "event_id": e.event.event_id, "zone": e.event.grid_zone,
                "start": iso(e.event.start), "end": iso(e.event.end),
                "renewable_pct": e.event.renewable_pct,
                "price_delta_gbp_per_kwh": e.event.price_delta_gbp_per_kwh,
                "requested_kw": e.sites,
                "loads_kw": {sid: {"before": b, "after": a}
                             for sid, (b, a) in self.event_loads(e.event).items()},
            } for e in sorted(self.stresses.values(), key=lambda e: e.event.start)],
            "events": [{"time": iso(f.time), "kind": f.kind, "text": f.text}
                       for _, f in sorted(enumerate(self.feed), reverse=True,
                                          key=lambda x: (x[1].time, x[0]))],
        }


def tap(handlers: Mapping[str, Handler[Any]], view: LiveView) -> dict[str, Handler[Any]]:
    """The same handlers, each also showing its input and outputs to the view (only once the
    handler succeeded: a dead-lettered record changes nothing)."""
    def wrap(h: Handler[Any]) -> Handler[Any]:
        def handle(state: Any, m: Inbound) -> Sequence[Out]:
            outs = h(state, m)
            view.apply(m, outs)
            return outs
        handle.__doc__ = h.__doc__
        return handle
    return {kind: wrap(h) for kind, h in handlers.items()}


def page() -> str:
    """The page (live.html beside this module): plain HTML, CSS and a small script that renders
    each snapshot the stream pushes; nothing loaded from elsewhere."""
    return (Path(__file__).with_name("live.html")).read_text("utf-8")
