"""GridFlexAgent (the BPP) handlers: signals on the clock, catalogue, orders, stress events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.beckn.models import (
    Action,
    BecknMessage,
    Catalog,
    Descriptor,
    Item,
    OnDiscoverMessage,
    Order,
    OrderMessage,
    OrderStatus,
    Price,
    Provider,
    TimePeriod,
)
from contracts.beckn.models import Offer as BecknOffer
from contracts.compute_energy.vocab import ComputeEnergyWindow, FlexibilityAction, GridStressEvent
from contracts.events import ClockAdvanced, ZoneSignalPublished
from contracts.scenario import Scenario
from contracts.topics import BECKN_CALLBACKS, GRID_SIGNALS
from services.common.beckn import Parties, order_of, reply, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Inbound, Out
from services.grid_signal.domain import (
    LineRequest,
    Window,
    capacity_shortfalls,
    offered_windows,
    zone_signals,
)

SOURCE = "grid-signal"


@dataclass
class GridState:
    scenario: Scenario
    windows: dict[str, Window]
    signals: list[ZoneSignalPublished]
    published: int = 0
    raised: set[str] = field(default_factory=set)
    confirmed: dict[str, BecknMessage] = field(default_factory=dict)
    reserved: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, sc: Scenario) -> GridState:
        sigs = sorted((s for z in sc.zones for s in zone_signals(sc, z)),
                      key=lambda s: (s.period_start, s.zone))
        return cls(sc, {w.item_id: w for w in offered_windows(sc)}, sigs)


def _callback(msg: BecknMessage) -> Out:
    return Out(BECKN_CALLBACKS, msg.context.transaction_id, msg)


def on_clock_advanced(st: GridState, m: Inbound) -> Sequence[Out]:
    """Publish every period's signals once its start is reached; raise each stress event at
    its start as an unsolicited on_update to every confirmed order with load in the zone."""
    tick = m.value.payload
    assert isinstance(tick, ClockAdvanced)
    outs: list[Out] = []
    for ev in st.scenario.stress_events:
        start, end = st.scenario.at(ev.from_), st.scenario.at(ev.to)
        if ev.id in st.raised or start > tick.now:
            continue
        st.raised.add(ev.id)
        for order_msg in sorted(st.confirmed.values(), key=lambda x: x.context.transaction_id):
            order = order_of(order_msg)
            lines = [i.attributes for i in order.items
                     if i.attributes.grid_zone == ev.zone
                     and i.attributes.slot_start < end and i.attributes.slot_end > start]
            if not lines:
                continue
            load = max(line.compute_load_kw for line in lines)
            stress = GridStressEvent(
                event_id=ev.id, grid_zone=ev.zone, start=start, end=end,
                renewable_pct=ev.renewable_pct, carbon_intensity_g_per_kwh=ev.carbon_g_per_kwh,
                price_delta_gbp_per_kwh=ev.price_delta_gbp_per_kwh,
                requested_reduction_kw=min(ev.requested_reduction_kw, load),
                utilisation_payment_gbp_per_mwh=ev.utilisation_payment_gbp_per_mwh)
            updated = order.model_copy(update={"status": OrderStatus.INPROGRESS,
                                               "attributes": stress})
            c = order_msg.context
            parties = Parties(c.bap_id, c.bap_uri, c.bpp_id, c.bpp_uri)
            outs.append(_callback(request(parties, Action.ON_UPDATE, c.transaction_id,
                                          f"stress/{ev.id}", start, OrderMessage(order=updated))))
    while st.published < len(st.signals) and st.signals[st.published].period_start <= tick.now:
        s = st.signals[st.published]
        st.published += 1
        eid = stable_id("signal", s.zone, s.period_start.isoformat())
        outs.append(Out(GRID_SIGNALS, s.zone,
                        envelope(s, id=eid, time=s.period_start, source=SOURCE)))
    return outs


def _catalog(st: GridState, at: datetime) -> Catalog:
    sc = st.scenario
    bpp = sc.participants.bpp
    provider_id = bpp.provider_id or bpp.id
    provider = Provider(id=provider_id, descriptor=Descriptor(name=bpp.name))
    items, offers = [], []
    for w in sorted(st.windows.values(), key=lambda w: (w.start, w.zone)):
        if w.end <= at:
            continue
        items.append(Item(
            id=w.item_id,
            descriptor=Descriptor(name=f"{w.area} {w.start:%H:%M}-{w.end:%H:%M}",
                                  short_desc="Compute flexibility window"),
            provider=provider,
            availability_window=(TimePeriod(start=w.start, end=w.end),),
            item_attributes=ComputeEnergyWindow(
                grid_zone=w.zone, grid_area=w.area, start=w.start, end=w.end,
                renewable_pct=w.renewable_pct, carbon_intensity_g_per_kwh=w.carbon_g_per_kwh,
                price_gbp_per_kwh=w.price_gbp_per_kwh, capacity_kw=w.capacity_kw,
                stress_surcharge_gbp_per_kwh=w.stress_surcharge_gbp_per_kwh)))
        offers.append(_offer(st, w))
    return Catalog(
        id=f"catalog-{sc.day.isoformat()}", descriptor=Descriptor(name=f"{bpp.name} windows"),
        provider_id=provider_id, bpp_id=bpp.id, bpp_uri=bpp.uri,
        validity=TimePeriod(start=sc.day_start, end=sc.day_end),
        items=tuple(items), offers=tuple(offers))


def _offer(st: GridState, w: Window) -> BecknOffer:
    bpp = st.scenario.participants.bpp
    return BecknOffer(
        id=f"offer-{w.item_id}", descriptor=Descriptor(name=f"Energy for compute, {w.area}"),
        provider=bpp.provider_id or bpp.id, items=(w.item_id,),
        price=Price(value=w.price_gbp_per_kwh),
        validity=TimePeriod(start=w.start, end=w.end))


def on_discover(st: GridState, m: Inbound) -> Sequence[Out]:
    """Answer discovery with one catalogue of the windows still open at the request's time."""
    msg = m.value
    cat = _catalog(st, msg.context.timestamp)
    return [_callback(reply(msg, OnDiscoverMessage(catalogs=(cat,))))]


def _lines(order: Order) -> list[LineRequest]:
    return [LineRequest(i.ordered_item, i.attributes.capacity_kw) for i in order.items]


def _refuse(msg: BecknMessage, order: Order, problems: list[str]) -> Out:
    code = "30004" if any("no such window" in p for p in problems) else "40002"
    refused = order.model_copy(update={"status": OrderStatus.REJECTED})
    return _callback(reply(msg, OrderMessage(order=refused), error=(code, "; ".join(problems))))


def _quote(st: GridState, order: Order, status: OrderStatus) -> Order:
    items = []
    total = 0.0
    for i in order.items:
        w = st.windows[i.ordered_item]
        total += i.attributes.energy_kwh * w.price_gbp_per_kwh
        items.append(i.model_copy(update={"accepted_offer": _offer(st, w)}))
    return order.model_copy(update={"status": status, "items": tuple(items),
                                    "value": Price(value=round(total, 2))})


def _quote_if_it_fits(st: GridState, m: Inbound, status: OrderStatus) -> Sequence[Out]:
    msg = m.value
    order = order_of(msg)
    problems = capacity_shortfalls(st.windows, st.reserved, _lines(order))
    if problems:
        return [_refuse(msg, order, problems)]
    return [_callback(reply(msg, OrderMessage(order=_quote(st, order, status))))]


def on_select(st: GridState, m: Inbound) -> Sequence[Out]:
    """Quote an order if every line's capacity fits what the window has left (else 40002)."""
    return _quote_if_it_fits(st, m, OrderStatus.CREATED)


def on_init(st: GridState, m: Inbound) -> Sequence[Out]:
    """Initialise the quoted order (same capacity rule), awaiting confirmation."""
    return _quote_if_it_fits(st, m, OrderStatus.PENDING)


def on_confirm(st: GridState, m: Inbound) -> Sequence[Out]:
    """Reserve the capacity and confirm it per line; refuse with 40002 if it no longer fits."""
    msg = m.value
    order = order_of(msg)
    if order.id in st.confirmed:
        raise HandlerRejected("duplicate_order", f"order {order.id} is already confirmed")
    problems = capacity_shortfalls(st.windows, st.reserved, _lines(order))
    if problems:
        return [_refuse(msg, order, problems)]
    needed: dict[str, float] = {}
    for line in _lines(order):
        needed[line.window_id] = max(needed.get(line.window_id, 0.0), line.capacity_kw)
    for wid, kw in needed.items():
        st.reserved[wid] = st.reserved.get(wid, 0.0) + kw
    quoted = _quote(st, order, OrderStatus.CONFIRMED)
    items = tuple(i.model_copy(update={"attributes": i.attributes.model_copy(
        update={"confirmed_capacity_kw": i.attributes.capacity_kw})}) for i in quoted.items)
    confirmed = quoted.model_copy(update={"items": items})
    out = reply(msg, OrderMessage(order=confirmed))
    st.confirmed[order.id] = out
    return [_callback(out)]


def on_update(st: GridState, m: Inbound) -> Sequence[Out]:
    """Accept a flexibility update when the order is ours and a receiving site's new load
    stays within the capacity confirmed for it, or the windows it uses over the action's span
    have the extra capacity left (then it is reserved and confirmed); otherwise answer
    accepted=false with 40002."""
    msg = m.value
    order = order_of(msg)
    act = order.attributes
    if not isinstance(act, FlexibilityAction):
        raise HandlerRejected("invalid_update", "update carries no FlexibilityAction")
    held = st.confirmed.get(order.id or "")
    if held is None:
        return [_callback(reply(msg, OrderMessage(order=order.model_copy(
            update={"attributes": act.model_copy(update={"accepted": False})})),
            error=("30010", f"order {order.id} is not confirmed here")))]
    accepted = True
    why = "new load exceeds the confirmed capacity"
    if act.role == "receiving_site":
        cap = min((i.attributes.confirmed_capacity_kw or 0.0) for i in order_of(held).items)
        accepted = act.new_compute_load_kw <= cap + 1e-9
        if not accepted:
            granted, why = _grant(st, held, act, act.new_compute_load_kw - cap)
            accepted = granted
    answer = order.model_copy(update={"attributes": act.model_copy(update={"accepted": accepted})})
    if not accepted:
        return [_callback(reply(msg, OrderMessage(order=answer), error=("40002", why)))]
    return [_callback(reply(msg, OrderMessage(order=answer)))]


def _grant(st: GridState, held: BecknMessage, act: FlexibilityAction,
           extra_kw: float) -> tuple[bool, str]:
    """More capacity for a receiving order: granted when every window its lines use over the
    action's span still has `extra_kw` unreserved; the reservation and the order's confirmed
    capacity on those lines grow by it."""
    order = order_of(held)
    s = min((a.start for a in act.actions), default=None)
    e = max((a.end for a in act.actions), default=None)
    items = [i for i in order.items
             if s is None or e is None or (i.attributes.slot_start < e and i.attributes.slot_end > s)]
    wids = sorted({i.ordered_item for i in items})
    for wid in wids:
        w = st.windows.get(wid)
        left = 0.0 if w is None else w.capacity_kw - st.reserved.get(wid, 0.0)
        if extra_kw > left + 1e-9:
            return False, (f"new load exceeds the confirmed capacity by {extra_kw:g} kW and "
                           f"{wid} has {max(0.0, left):g} kW left")
    for wid in wids:
        st.reserved[wid] = st.reserved.get(wid, 0.0) + extra_kw
    grown = tuple(i.model_copy(update={"attributes": i.attributes.model_copy(update={
        "confirmed_capacity_kw": (i.attributes.confirmed_capacity_kw or 0.0) + extra_kw})})
        if i in items else i for i in order.items)
    st.confirmed[order.id or ""] = held.model_copy(update={"message": OrderMessage(
        order=order.model_copy(update={"items": grown}))})
    return True, ""


HANDLERS = {
    "sim.clock.advanced": on_clock_advanced,
    "beckn.discover": on_discover,
    "beckn.select": on_select,
    "beckn.init": on_init,
    "beckn.confirm": on_confirm,
    "beckn.update": on_update,
}
