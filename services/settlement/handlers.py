"""Settlement handlers: gather the day, settle it once complete, close each Beckn order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.beckn.models import Action, BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import GridStressEvent, SettlementMetrics
from contracts.events import (
    FlexibilityVerified,
    MeterDayClosed,
    MeterReadingRecorded,
    OrderSettlement,
    ResponseDispatched,
    SettlementStatementIssued,
    ZoneSignalPublished,
)
from contracts.topics import BECKN_STATUSES, STATEMENTS
from services.common.beckn import Parties, order_of, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import Inbound, Out, ignore
from services.settlement.domain import by_zone, flex_payment_gbp, settle_site

SOURCE = "settlement"


@dataclass
class SettlementState:
    signals: dict[tuple[str, datetime], ZoneSignalPublished] = field(default_factory=dict)
    orders: dict[str, BecknMessage] = field(default_factory=dict)
    events: dict[str, GridStressEvent] = field(default_factory=dict)
    readings: dict[str, dict[datetime, MeterReadingRecorded]] = field(default_factory=dict)
    closed: dict[str, MeterDayClosed] = field(default_factory=dict)
    verified: dict[str, FlexibilityVerified] = field(default_factory=dict)
    responses: dict[str, ResponseDispatched] = field(default_factory=dict)
    settled: set[datetime] = field(default_factory=set)


def _site_of(msg: BecknMessage) -> tuple[str, str]:
    line = order_of(msg).items[0].attributes
    return line.site_id, line.grid_zone


def _complete(st: SettlementState) -> datetime | None:
    """The day's end once every ordered site is metered to it, every stress event is
    verified and answered, and every period's signal is in; else None."""
    if not st.orders:
        return None
    sites = {_site_of(m) for m in st.orders.values()}
    if any(s not in st.closed for s, _ in sites):
        return None
    ends = {st.closed[s].day_end for s, _ in sites}
    if len(ends) != 1:
        return None
    day_end = ends.pop()
    day_start = next(iter(st.closed.values())).day_start
    if day_end in st.settled:
        return None
    for ev_key, ev in st.events.items():
        if ev_key not in st.verified or ev_key not in st.responses:
            return None
    for _, zone in sites:
        got = [s for (z, _), s in st.signals.items() if z == zone]
        covered = sum((s.period_end - s.period_start for s in got), timedelta())
        if covered < day_end - day_start:
            return None
    return day_end


def _settle(st: SettlementState, day_end: datetime) -> list[Out]:
    closed = next(iter(st.closed.values()))
    day_start = closed.day_start
    series = by_zone(st.signals)
    first = min(st.events.values(), key=lambda e: (e.start, e.event_id), default=None)
    span = (first.start, first.end) if first else None
    sites, orders = [], []
    payments: dict[str, float] = {}
    for v in st.verified.values():
        ev = st.events[f"{v.event_id}/{v.site_id}"]
        pay = flex_payment_gbp(ev.utilisation_payment_gbp_per_mwh, v.delivered_kwh,
                               v.delivered_pct)
        payments[v.transaction_id] = payments.get(v.transaction_id, 0.0) + pay
    outs: list[Out] = []
    for txn, msg in sorted(st.orders.items(), key=lambda kv: _site_of(kv[1])):
        site_id, zone = _site_of(msg)
        order = order_of(msg)
        lines = [i.attributes for i in order.items]
        readings = [r for t, r in sorted(st.readings.get(site_id, {}).items())
                    if day_start <= t < day_end]
        res = readings[0].end - readings[0].start if readings else timedelta(minutes=1)
        expected = int((day_end - day_start) / res)
        s = settle_site(site_id, zone, series[zone], lines, readings, expected, span)
        sites.append(s)
        pay = round(payments.get(txn, 0.0), 6)
        ver = [v for v in st.verified.values() if v.transaction_id == txn]
        orders.append(OrderSettlement(
            order_id=order.id or "", transaction_id=txn, site_id=site_id,
            energy_kwh=s.energy_kwh, cost_gbp=s.cost_gbp, carbon_kg=s.carbon_kg,
            baseline_cost_gbp=s.baseline_cost_gbp, baseline_carbon_kg=s.baseline_carbon_kg,
            flex_payment_gbp=pay))
        metrics = SettlementMetrics(
            energy_kwh=round(s.energy_kwh, 3), cost_gbp=round(s.cost_gbp, 2), carbon_kg=round(s.carbon_kg, 3),
            baseline_energy_kwh=s.baseline_energy_kwh,
            baseline_cost_gbp=round(s.baseline_cost_gbp, 2),
            baseline_carbon_kg=round(s.baseline_carbon_kg, 3),
            verified_flexibility_kwh=round(sum(v.delivered_kwh for v in ver), 6),
            delivered_pct=ver[0].delivered_pct if ver else None, flex_payment_gbp=round(pay, 2))
        done = order.model_copy(update={"status": OrderStatus.COMPLETED, "attributes": metrics})
        c = msg.context
        outs.append(Out(BECKN_STATUSES, txn, request(
            Parties(c.bap_id, c.bap_uri, c.bpp_id, c.bpp_uri), Action.ON_STATUS, txn,
            f"settled/{day_end.isoformat()}", day_end, OrderMessage(order=done))))
    statement = SettlementStatementIssued(
        day_start=day_start, day_end=day_end, sites=tuple(sites), orders=tuple(orders),
        shifted_kw=sum(r.shifted_kw for r in st.responses.values()),
        battery_kw=sum(r.battery_kw for r in st.responses.values()),
        verified_kw=round(sum(v.delivered_kw for v in st.verified.values()), 6),
        verified_kwh=round(sum(v.delivered_kwh for v in st.verified.values()), 6),
        net_system_kw=round(sum(v.net_system_kw for v in st.verified.values()), 6),
        flex_payment_gbp=round(sum(o.flex_payment_gbp for o in orders), 6),
        baseline_cost_gbp=round(sum(s.baseline_cost_gbp for s in sites), 6),
        actual_cost_gbp=round(sum(s.cost_gbp for s in sites), 6),
        baseline_carbon_kg=round(sum(s.baseline_carbon_kg for s in sites), 6),
        actual_carbon_kg=round(sum(s.carbon_kg for s in sites), 6))
    st.settled.add(day_end)
    outs.insert(0, Out(STATEMENTS, day_start.date().isoformat(), envelope(
        statement, id=stable_id("statement", day_end.isoformat()), time=day_end, source=SOURCE)))
    return outs


def _maybe_settle(st: SettlementState) -> list[Out]:
    day_end = _complete(st)
    return [] if day_end is None else _settle(st, day_end)


def on_signal(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """Prices and intensities in force, per zone and period."""
    s = m.value.payload
    st.signals[(s.zone, s.period_start)] = s
    return _maybe_settle(st)


def on_order_confirmed(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """A confirmed order is settled at the end of its day."""
    msg: BecknMessage = m.value
    if order_of(msg).status == OrderStatus.CONFIRMED:
        st.orders[msg.context.transaction_id] = msg
    return []


def on_grid_update(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """A stress event must be verified before its day settles."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if isinstance(order.attributes, GridStressEvent):
        site_id, _ = _site_of(msg)
        st.events[f"{order.attributes.event_id}/{site_id}"] = order.attributes
    return []


def on_reading(st: SettlementState, m: Inbound) -> Sequence[Out]:
    r = m.value.payload
    st.readings.setdefault(r.site_id, {})[r.start] = r
    return []


def on_day_closed(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """A site's meter has the whole day: settle if everything else is in."""
    c = m.value.payload
    st.closed[c.site_id] = c
    return _maybe_settle(st)


def on_verified(st: SettlementState, m: Inbound) -> Sequence[Out]:
    v = m.value.payload
    st.verified[f"{v.event_id}/{v.site_id}"] = v
    return _maybe_settle(st)


def on_response(st: SettlementState, m: Inbound) -> Sequence[Out]:
    r = m.value.payload
    st.responses[f"{r.event_id}/{r.site_id}"] = r
    return _maybe_settle(st)


HANDLERS = {
    "grid.signal.published": on_signal,
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "metering.reading.recorded": on_reading,
    "metering.day.closed": on_day_closed,
    "metering.flexibility.verified": on_verified,
    "fulfilment.response.dispatched": on_response,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
