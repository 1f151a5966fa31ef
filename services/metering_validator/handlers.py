"""Metering validator handlers: collect readings, verify each stress event once covered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.beckn.models import BecknMessage, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction, GridStressEvent, OrderLine
from contracts.events import (
    FlexibilityVerified,
    MeterReadingRecorded,
    SiteDelta,
)
from contracts.topics import VERIFICATIONS
from services.common.beckn import order_of
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import Inbound, Out, ignore
from services.metering_validator.domain import Metered, measure, verdict

SOURCE = "metering-validator"


@dataclass(frozen=True)
class PendingEvent:
    event: GridStressEvent
    order_id: str
    transaction_id: str
    site_id: str


@dataclass
class ValidatorState:
    lines: dict[str, tuple[OrderLine, ...]] = field(default_factory=dict)
    events: dict[str, PendingEvent] = field(default_factory=dict)
    receiving: dict[str, set[str]] = field(default_factory=dict)
    readings: dict[str, dict[datetime, Metered]] = field(default_factory=dict)
    metered_until: dict[str, datetime] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)

    def all_lines(self) -> list[OrderLine]:
        return [line for ls in self.lines.values() for line in ls]


def _ready(st: ValidatorState, p: PendingEvent) -> bool:
    sites = {p.site_id, *st.receiving.get(p.event.event_id, set())}
    return all(st.metered_until.get(s, p.event.start) >= p.event.end for s in sites)


def _verify(st: ValidatorState) -> list[Out]:
    outs = []
    for key, p in sorted(st.events.items()):
        if key in st.verified or not _ready(st, p):
            continue
        st.verified.add(key)
        ev = p.event
        lines = st.all_lines()
        here = measure(lines, p.site_id, st.readings.get(p.site_id, {}), ev.start, ev.end)
        delivered_kw = here.baseline_kw - here.metered_kw
        pct, v = verdict(delivered_kw, ev.requested_reduction_kw)
        deltas = []
        for s in sorted(st.receiving.get(ev.event_id, set())):
            r = measure(lines, s, st.readings.get(s, {}), ev.start, ev.end)
            deltas.append(SiteDelta(site_id=s, baseline_kw=round(r.baseline_kw, 6),
                                    metered_kw=round(r.metered_kw, 6)))
        increase = sum(d.metered_kw - d.baseline_kw for d in deltas)
        out = FlexibilityVerified(
            event_id=ev.event_id, order_id=p.order_id, transaction_id=p.transaction_id,
            site_id=p.site_id, start=ev.start, end=ev.end,
            requested_kw=ev.requested_reduction_kw, baseline_kw=round(here.baseline_kw, 6),
            metered_kw=round(here.metered_kw, 6), delivered_kw=round(delivered_kw, 6),
            delivered_kwh=round(here.delivered_kwh, 6), delivered_pct=round(pct, 3), verdict=v,
            receiving=tuple(deltas), net_system_kw=round(delivered_kw - increase, 6))
        outs.append(Out(VERIFICATIONS, p.site_id, envelope(
            out, id=stable_id("verified", key), time=ev.end, source=SOURCE)))
    return outs


def on_order_confirmed(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """A confirmed order's lines are the nominated baseline of its site."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if order.status == OrderStatus.CONFIRMED:
        st.lines[msg.context.transaction_id] = tuple(i.attributes for i in order.items)
    return []


def on_grid_update(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """Note stress events (what was instructed) and accepted receiving-site updates."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    a = order.attributes
    if isinstance(a, GridStressEvent):
        site = order.items[0].attributes.site_id
        st.events[f"{a.event_id}/{site}"] = PendingEvent(a, order.id or "",
                                                         msg.context.transaction_id, site)
    elif isinstance(a, FlexibilityAction) and a.role == "receiving_site" and a.accepted:
        st.receiving.setdefault(a.event_id, set()).add(order.items[0].attributes.site_id)
    return _verify(st)


def on_reading(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """Keep the interval; verify any event whose sites are now metered past its end."""
    r = m.value.payload
    assert isinstance(r, MeterReadingRecorded)
    st.readings.setdefault(r.site_id, {})[r.start] = Metered(r.start, r.end, r.import_kwh)
    if r.end > st.metered_until.get(r.site_id, r.start):
        st.metered_until[r.site_id] = r.end
    return _verify(st)


HANDLERS = {
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "metering.reading.recorded": on_reading,
    "metering.day.closed": ignore,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
