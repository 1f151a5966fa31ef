"""Settlement handlers: gather the day, settle it once complete, close each Beckn order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.beckn.models import Action, BecknMessage, OrderItem, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import GridStressEvent, OrderItemSettlement, SettlementMetrics
from contracts.events import (
    FlexibilityVerified,
    MeterDayClosed,
    MeterReadingRecorded,
    OrderSettlement,
    ResponseDispatched,
    ZoneSignalPublished,
)
from contracts.topics import BECKN_STATUSES, STATEMENTS
from services.common.beckn import Parties, order_of, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Inbound, Out, ignore
from services.settlement.domain import (
    InstructedEvent,
    OrderedLine,
    OrderInput,
    SettlementConfig,
    SettlementInputError,
    SettlementInputs,
    settle_day,
)

SOURCE = "settlement"


@dataclass(frozen=True)
class Instructed:
    event: GridStressEvent
    site_id: str
    order_id: str
    transaction_id: str


@dataclass
class SettlementState:
    config: SettlementConfig = field(default_factory=SettlementConfig)
    signals: dict[tuple[str, datetime], ZoneSignalPublished] = field(default_factory=dict)
    orders: dict[str, BecknMessage] = field(default_factory=dict)
    events: dict[str, Instructed] = field(default_factory=dict)
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
    verified and answered (and every verification's instruction and order are in), and every
    period's signal is in; else None."""
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
    for ev_key in st.events:
        if ev_key not in st.verified or ev_key not in st.responses:
            return None
    # read in another order (a fresh consumer group), a verification may come before the
    # instruction it verifies or the order it pays: wait for them
    for ev_key, v in st.verified.items():
        if ev_key not in st.events or v.transaction_id not in st.orders:
            return None
    for _, zone in sites:
        got = [s for (z, _), s in st.signals.items() if z == zone]
        covered = sum((s.period_end - s.period_start for s in got), timedelta())
        if covered < day_end - day_start:
            return None
    return day_end


def inputs_of(st: SettlementState, day_end: datetime) -> SettlementInputs:
    """The pure settlement's inputs, read off the gathered state for the day ending `day_end`."""
    day_start = next(iter(st.closed.values())).day_start
    orders = []
    for txn, msg in st.orders.items():
        site_id, zone = _site_of(msg)
        order = order_of(msg)
        orders.append(OrderInput(
            order_id=order.id or "", transaction_id=txn, site_id=site_id, zone=zone,
            items=tuple(OrderedLine(item_id=i.ordered_item, line_id=i.line_id,
                                    line=i.attributes) for i in order.items)))
    sites = {o.site_id for o in orders}
    zones = {o.zone for o in orders}
    return SettlementInputs(
        day_start=day_start, day_end=day_end, config=st.config,
        orders=tuple(sorted(orders, key=lambda o: (o.site_id, o.order_id))),
        signals=tuple(s for (z, _), s in sorted(st.signals.items()) if z in zones),
        readings=tuple(r for site in sorted(sites) for t, r in sorted(
            st.readings.get(site, {}).items()) if day_start <= t < day_end),
        events=tuple(InstructedEvent(site_id=e.site_id, order_id=e.order_id,
                                     transaction_id=e.transaction_id, event=e.event)
                     for _, e in sorted(st.events.items())),
        verifications=tuple(v for _, v in sorted(st.verified.items())),
        responses=tuple(r for _, r in sorted(st.responses.items())))


def _metrics(o: OrderSettlement, items: Sequence[OrderItem]) -> SettlementMetrics:
    line_of = {i.ordered_item: i.line_id for i in items}
    return SettlementMetrics(
        energy_kwh=round(o.energy_kwh, 3), cost_gbp=round(o.cost_gbp, 2),
        carbon_kg=round(o.carbon_kg, 3), baseline_energy_kwh=round(o.baseline_energy_kwh, 3),
        baseline_cost_gbp=round(o.baseline_cost_gbp, 2),
        baseline_carbon_kg=round(o.baseline_carbon_kg, 3),
        verified_flexibility_kwh=round(o.verified_kwh, 6), delivered_pct=o.delivered_pct,
        flex_payment_gbp=round(o.flex_payment_gbp, 2),
        utilisation_payment_gbp=round(o.utilisation_payment_gbp, 2),
        availability_payment_gbp=round(o.availability_payment_gbp, 2),
        performance_factor=o.performance_factor,
        battery_recharge_cost_gbp=round(o.battery_recharge_cost_gbp, 2),
        battery_losses_kwh=round(o.battery_losses_kwh, 3),
        marginal_carbon_kg=None if o.marginal_carbon_kg is None else round(o.marginal_carbon_kg, 3),
        baseline_marginal_carbon_kg=(None if o.baseline_marginal_carbon_kg is None
                                     else round(o.baseline_marginal_carbon_kg, 3)),
        items=tuple(OrderItemSettlement(
            ordered_item=i.item_id, line_id=line_of.get(i.item_id, i.line_id),
            slot_start=i.slot_start, slot_end=i.slot_end, energy_kwh=round(i.energy_kwh, 3),
            cost_gbp=round(i.cost_gbp, 2), carbon_kg=round(i.carbon_kg, 3),
            baseline_energy_kwh=round(i.baseline_energy_kwh, 3),
            baseline_cost_gbp=round(i.baseline_cost_gbp, 2),
            baseline_carbon_kg=round(i.baseline_carbon_kg, 3),
            verified_flexibility_kwh=round(i.verified_kwh, 6),
            flex_payment_gbp=round(i.utilisation_payment_gbp + i.availability_payment_gbp, 2))
            for i in o.items))


def _settle(st: SettlementState, day_end: datetime) -> list[Out]:
    st.settled.add(day_end)
    try:
        day = settle_day(inputs_of(st, day_end))
    except SettlementInputError as exc:
        raise HandlerRejected("unsettleable", str(exc)) from exc
    statement = day.statement
    key = statement.day_start.date().isoformat()
    outs: list[Out] = [Out(STATEMENTS, key, envelope(
        s, id=stable_id("site-settled", day_end.isoformat(), s.site_id), time=day_end,
        source=SOURCE)) for s in day.sites]
    outs.append(Out(STATEMENTS, key, envelope(
        statement, id=stable_id("statement", day_end.isoformat()), time=day_end,
        source=SOURCE)))
    by_txn = {o.transaction_id: o for o in statement.orders}
    for txn, msg in sorted(st.orders.items(), key=lambda kv: _site_of(kv[1])):
        order = order_of(msg)
        done = order.model_copy(update={"status": OrderStatus.COMPLETED,
                                        "attributes": _metrics(by_txn[txn], order.items)})
        c = msg.context
        outs.append(Out(BECKN_STATUSES, txn, request(
            Parties(c.bap_id, c.bap_uri, c.bpp_id, c.bpp_uri), Action.ON_STATUS, txn,
            f"settled/{day_end.isoformat()}", day_end, OrderMessage(order=done))))
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
    """A confirmed order is settled at the end of its day (it may be the last piece read)."""
    msg: BecknMessage = m.value
    if order_of(msg).status == OrderStatus.CONFIRMED:
        st.orders[msg.context.transaction_id] = msg
    return _maybe_settle(st)


def on_grid_update(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """A stress event must be verified before its day settles (and may be the last piece
    read, after its verification)."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if isinstance(order.attributes, GridStressEvent):
        site_id, _ = _site_of(msg)
        st.events[f"{order.attributes.event_id}/{site_id}"] = Instructed(
            order.attributes, site_id, order.id or "", msg.context.transaction_id)
    return _maybe_settle(st)


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
