"""What a day's settlement rests on, gathered record by record (`DayBook`), and the one way those
records become `SettlementInputs` (`assemble`).

Settlement builds its inputs with `DayBook.inputs`; the audit keeps a `DayBook` of its own to
record the inputs of each settled order, and `degflex audit verify` rebuilds a statement's
inputs from the log with `assemble`. One function orders and filters the records for both, so
the inputs the auditor rebuilds hash to the statement's `inputs_digest` by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.beckn.models import Order
from contracts.compute_energy.vocab import GridStressEvent
from contracts.events import (
    FlexibilityVerified,
    MeterDayClosed,
    MeterReadingRecorded,
    ResponseDispatched,
    ZoneSignalPublished,
)
from rules.settlement import (
    InstructedEvent,
    OrderedLine,
    OrderInput,
    SettlementConfig,
    SettlementInputs,
)

Record = (ZoneSignalPublished | InstructedEvent | MeterReadingRecorded | MeterDayClosed
          | FlexibilityVerified | ResponseDispatched)


def event_key(event_id: str, site_id: str) -> str:
    """A stress event at one site: how instructions, verifications and responses meet."""
    return f"{event_id}/{site_id}"


def site_zone(order: Order) -> tuple[str, str]:
    """The site and grid zone an order is for (its first line's)."""
    line = order.items[0].attributes
    return line.site_id, line.grid_zone


def order_input(transaction_id: str, order: Order) -> OrderInput:
    """A confirmed Beckn order as settlement's input: its ids, site, zone and lines."""
    site_id, zone = site_zone(order)
    return OrderInput(
        order_id=order.id or "", transaction_id=transaction_id, site_id=site_id, zone=zone,
        items=tuple(OrderedLine(item_id=i.ordered_item, line_id=i.line_id, line=i.attributes)
                    for i in order.items))


def instruction(transaction_id: str, order: Order) -> InstructedEvent | None:
    """The stress event an `on_update` instructs the order with; None when it carries none."""
    if not isinstance(order.attributes, GridStressEvent):
        return None
    return InstructedEvent(site_id=site_zone(order)[0], order_id=order.id or "",
                           transaction_id=transaction_id, event=order.attributes)


def assemble(*, day_start: datetime, day_end: datetime, config: SettlementConfig,
             orders: Iterable[OrderInput], signals: Iterable[ZoneSignalPublished],
             readings: Iterable[MeterReadingRecorded], events: Iterable[InstructedEvent],
             verifications: Iterable[FlexibilityVerified],
             responses: Iterable[ResponseDispatched]) -> SettlementInputs:
    """The day's inputs in their one canonical order: orders by (site, order id); the signals of
    the ordered zones by (zone, period start); the readings of the ordered sites inside the day
    by (site, start); instructions, verifications and responses by `event_key`. A later
    record with the same key replaces an earlier one."""
    orders = sorted(orders, key=lambda o: (o.site_id, o.order_id))
    sites = {o.site_id for o in orders}
    zones = {o.zone for o in orders}
    by_zone = {(s.zone, s.period_start): s for s in signals}
    by_site = {(r.site_id, r.start): r for r in readings}
    by_event = {event_key(e.event.event_id, e.site_id): e for e in events}
    verified = {event_key(v.event_id, v.site_id): v for v in verifications}
    answered = {event_key(r.event_id, r.site_id): r for r in responses}
    return SettlementInputs(
        day_start=day_start, day_end=day_end, config=config, orders=tuple(orders),
        signals=tuple(s for (z, _), s in sorted(by_zone.items()) if z in zones),
        readings=tuple(r for (site, t), r in sorted(by_site.items())
                       if site in sites and day_start <= t < day_end),
        events=tuple(e for _, e in sorted(by_event.items())),
        verifications=tuple(v for _, v in sorted(verified.items())),
        responses=tuple(r for _, r in sorted(answered.items())))


@dataclass
class DayBook:
    """Every record a settlement can rest on, as consumed: the latest per key."""

    signals: dict[tuple[str, datetime], ZoneSignalPublished] = field(default_factory=dict)
    events: dict[str, InstructedEvent] = field(default_factory=dict)
    readings: dict[str, dict[datetime, MeterReadingRecorded]] = field(default_factory=dict)
    closed: dict[str, MeterDayClosed] = field(default_factory=dict)
    verified: dict[str, FlexibilityVerified] = field(default_factory=dict)
    responses: dict[str, ResponseDispatched] = field(default_factory=dict)

    def record(self, r: Record) -> None:
        """Keep one consumed record (a zone signal, an instruction, a meter reading or day
        closure, a verification, a response)."""
        match r:
            case ZoneSignalPublished():
                self.signals[(r.zone, r.period_start)] = r
            case InstructedEvent():
                self.events[event_key(r.event.event_id, r.site_id)] = r
            case MeterReadingRecorded():
                self.readings.setdefault(r.site_id, {})[r.start] = r
            case MeterDayClosed():
                self.closed[r.site_id] = r
            case FlexibilityVerified():
                self.verified[event_key(r.event_id, r.site_id)] = r
            case ResponseDispatched():
                self.responses[event_key(r.event_id, r.site_id)] = r

    def day_readings(self, site_id: str, start: datetime, end: datetime
                     ) -> list[MeterReadingRecorded]:
        """The site's readings that start inside [start, end), in time order."""
        return [r for t, r in sorted(self.readings.get(site_id, {}).items()) if start <= t < end]

    def zone_signals(self, zone: str) -> list[ZoneSignalPublished]:
        """The zone's signals, by period start."""
        return [s for (z, _), s in sorted(self.signals.items()) if z == zone]

    def covers(self, zone: str, start: datetime, end: datetime) -> bool:
        """The zone's signals for periods that meet [start, end) add up to its length."""
        meeting = [s for s in self.zone_signals(zone) if s.period_end > start
                   and s.period_start < end]
        return sum((s.period_end - s.period_start for s in meeting), timedelta()) >= end - start

    def answered(self) -> bool:
        """Every instructed stress event has both its verification and its response."""
        return all(k in self.verified and k in self.responses for k in self.events)

    def inputs(self, orders: Iterable[OrderInput], day_start: datetime, day_end: datetime,
               config: SettlementConfig) -> SettlementInputs:
        """The inputs of the day [day_start, day_end) for `orders`, from what is gathered."""
        return assemble(
            day_start=day_start, day_end=day_end, config=config, orders=orders,
            signals=self.signals.values(),
            readings=(r for rs in self.readings.values() for r in rs.values()),
            events=self.events.values(), verifications=self.verified.values(),
            responses=self.responses.values())
