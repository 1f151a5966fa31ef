"""Settlement handlers: gather the day, settle it once complete, close each Beckn order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.beckn.models import Action, BecknMessage, OrderItem, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import OrderItemSettlement, SettlementMetrics
from contracts.events import OrderSettlement
from contracts.topics import BECKN_STATUSES, STATEMENTS
from rules.settlement import SettlementConfig, SettlementInputError, SettlementInputs, settle_day
from rules.settlement_inputs import DayBook, instruction, order_input, site_zone
from services.common.beckn import Parties, order_of, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Inbound, Out, ignore

SOURCE = "settlement"


@dataclass
class SettlementState:
    config: SettlementConfig = field(default_factory=SettlementConfig)
    book: DayBook = field(default_factory=DayBook)
    orders: dict[str, BecknMessage] = field(default_factory=dict)
    settled: set[datetime] = field(default_factory=set)


def _site_of(msg: BecknMessage) -> tuple[str, str]:
    return site_zone(order_of(msg))


def _complete(st: SettlementState) -> datetime | None:
    """The day's end once every ordered site is metered to it, every stress event is
    verified and answered (and every verification's instruction and order are in), and every
    period's signal is in; else None."""
    if not st.orders:
        return None
    book = st.book
    sites = {_site_of(m) for m in st.orders.values()}
    if any(s not in book.closed for s, _ in sites):
        return None
    ends = {book.closed[s].day_end for s, _ in sites}
    if len(ends) != 1:
        return None
    day_end = ends.pop()
    day_start = next(iter(book.closed.values())).day_start
    if day_end in st.settled or not book.answered():
        return None
    # read in another order (a fresh consumer group), a verification may come before the
    # instruction it verifies or the order it pays: wait for them
    for ev_key, v in book.verified.items():
        if ev_key not in book.events or v.transaction_id not in st.orders:
            return None
    if not all(book.covers(zone, day_start, day_end) for _, zone in sites):
        return None
    return day_end


def inputs_of(st: SettlementState, day_end: datetime) -> SettlementInputs:
    """The pure settlement's inputs, read off the gathered state for the day ending `day_end`."""
    day_start = next(iter(st.book.closed.values())).day_start
    return st.book.inputs((order_input(txn, order_of(msg)) for txn, msg in st.orders.items()),
                          day_start, day_end, st.config)


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
    st.book.record(m.value.payload)
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
    event = instruction(msg.context.transaction_id, order_of(msg))
    if event is not None:
        st.book.record(event)
    return _maybe_settle(st)


def on_reading(st: SettlementState, m: Inbound) -> Sequence[Out]:
    st.book.record(m.value.payload)
    return []


def on_day_closed(st: SettlementState, m: Inbound) -> Sequence[Out]:
    """A site's meter has the whole day: settle if everything else is in."""
    st.book.record(m.value.payload)
    return _maybe_settle(st)


def on_verified(st: SettlementState, m: Inbound) -> Sequence[Out]:
    st.book.record(m.value.payload)
    return _maybe_settle(st)


def on_response(st: SettlementState, m: Inbound) -> Sequence[Out]:
    st.book.record(m.value.payload)
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
