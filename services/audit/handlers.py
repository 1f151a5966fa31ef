"""Audit handlers: turn each order state change, with its inputs, into the next chain entry.

issued (`confirm`), accepted (`on_confirm` CONFIRMED), instructed (`on_update` carrying a grid
stress event), adjusted (`on_update` carrying a flexibility action), delivered (the site's meter
closed the day), verified (`metering.flexibility.verified`), settled (one per order of a
`settlement.statement.issued`, once every input it used is here), closed (`on_status`
COMPLETED, after its settled entry). The first entry under a new configuration is preceded by
a `configured` entry recording it. An entry whose (stage, order, source message) is already in
the log is not written again, so a restart or a redelivered message adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.audit import (
    AuditBody,
    ConfiguredInputs,
    DeliveredInputs,
    OrderSnapshot,
    SettledInputs,
    SourceRef,
    Stage,
    VerifiedInputs,
    dump,
)
from contracts.beckn.models import BecknMessage, Order, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction
from contracts.envelope import Frozen
from contracts.events import (
    FlexibilityVerified,
    SettlementStatementIssued,
    ZoneSignalPublished,
)
from contracts.topics import AUDIT_LOG
from rules.settlement_inputs import DayBook, instruction, site_zone
from services.audit.domain import Chain, Head, append, content_hash
from services.common.beckn import order_of
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import Inbound, Out, ignore

SOURCE = "audit"


@dataclass
class Waiting:
    """A message whose entries need inputs not yet consumed (a statement, an on_status)."""

    source: SourceRef
    at: datetime
    value: SettlementStatementIssued | BecknMessage
    orders: list[str]


@dataclass
class AuditState:
    config: dict[str, Any]
    config_hash: str
    settlement_config: dict[str, Any] = field(default_factory=dict)
    topic_prefix: str = ""
    head: Head = field(default_factory=Head)
    logged: set[str] = field(default_factory=set)
    logged_config: str | None = None
    settled: set[str] = field(default_factory=set)
    orders: dict[str, Order] = field(default_factory=dict)
    book: DayBook = field(default_factory=DayBook)
    waiting: list[Waiting] = field(default_factory=list)

    @classmethod
    def recovered(cls, config: dict[str, Any], chain: Chain, topic_prefix: str = ""
                  ) -> AuditState:
        """State that continues `chain` (read back from the log topic at start-up); the
        settlement rules' parameters are `config["settlement_config"]`."""
        return cls(config=config, config_hash=content_hash(config),
                   settlement_config=config.get("settlement_config", {}),
                   topic_prefix=topic_prefix,
                   head=chain.head,
                   logged=chain.keys, logged_config=chain.config_hash,
                   settled={b.order_id or "" for b in chain.bodies if b.stage == Stage.SETTLED})


def _log(st: AuditState, stage: Stage, at: datetime, source: SourceRef | None,
         inputs: Frozen, order: Order | None = None, txn: str | None = None) -> list[Out]:
    """Append one entry (after a `configured` one if the configuration changed); nothing when
    the log already holds it."""
    site = site_zone(order)[0] if order is not None else None
    body = AuditBody(seq=st.head.seq, stage=stage, at=at, order_id=order.id if order else None,
                     transaction_id=txn, site_id=site, source=source,
                     config_hash=st.config_hash, inputs=dump(inputs))
    if body.key in st.logged:
        return []
    outs: list[Out] = []
    if st.logged_config != st.config_hash:
        configured = AuditBody(seq=st.head.seq, stage=Stage.CONFIGURED, at=at,
                               config_hash=st.config_hash,
                               inputs=dump(ConfiguredInputs(config=st.config)))
        outs.append(_write(st, configured))
        st.logged_config = st.config_hash
    outs.append(_write(st, body))
    if stage == Stage.SETTLED and order is not None:
        st.settled.add(order.id)
    return outs


def _write(st: AuditState, body: AuditBody) -> Out:
    entry, st.head = append(st.head, body)
    st.logged.add(body.key)
    return Out(AUDIT_LOG, body.order_id or "-", envelope(
        entry, id=stable_id("audit", body.key), time=body.at, source=SOURCE))


def _ref(st: AuditState, m: Inbound) -> SourceRef:
    """The causing message; its topic by catalogue name, whatever prefix the deployment uses."""
    return SourceRef(topic=m.topic.removeprefix(st.topic_prefix), type=m.kind,
                     message_id=m.message_id)


# ---- settled: what settlement used, gathered into the same `DayBook` settlement keeps -------


def _settled_inputs(st: AuditState, w: Waiting, order_id: str) -> SettledInputs | None:
    """One order's part of the settlement's inputs, or None while any input is still missing
    (the day is complete for settlement exactly when it is complete here)."""
    s = w.value
    assert isinstance(s, SettlementStatementIssued)
    book = st.book
    rec = next(o for o in s.orders if o.order_id == order_id)
    order = st.orders.get(rec.transaction_id)
    site_rec = next((x for x in s.sites if x.site_id == rec.site_id), None)
    closed = book.closed.get(rec.site_id)
    if order is None or site_rec is None or closed is None or closed.day_end != s.day_end:
        return None
    readings = book.day_readings(rec.site_id, s.day_start, s.day_end)
    if len(readings) < closed.readings:
        return None
    zone = site_zone(order)[1]
    if not book.covers(zone, s.day_start, s.day_end) or not book.answered():
        return None
    signals = book.zone_signals(zone)
    return SettledInputs(
        statement_id=w.source.message_id, statement_orders=tuple(o.order_id for o in s.orders),
        day_start=s.day_start, day_end=s.day_end, config=st.settlement_config,
        config_digest=s.config_digest, inputs_digest=s.inputs_digest,
        transaction_id=rec.transaction_id, order=order, readings=tuple(readings),
        signals=tuple(signals), dataset_version=dataset_version(signals),
        events=tuple(e for _, e in sorted(book.events.items())),
        verifications=tuple(v for _, v in sorted(book.verified.items())),
        responses=tuple(v for _, v in sorted(book.responses.items())),
        recorded_site=site_rec, recorded_order=rec,
        recorded_events=tuple(e for e in s.events if e.transaction_id == rec.transaction_id))


def dataset_version(signals: Sequence[ZoneSignalPublished]) -> str:
    """The prices and intensities in force, named by content: sha256 of their canonical JSON."""
    return "sha256:" + content_hash([dump(s) for s in signals])


def _drain(st: AuditState) -> list[Out]:
    """Write every waiting entry whose inputs are now all here, in arrival order, until none
    is left that can be (a settled entry may release a closed one that arrived before it)."""
    outs: list[Out] = []
    while True:
        before = sum(len(w.orders) for w in st.waiting)
        outs += _drain_once(st)
        if sum(len(w.orders) for w in st.waiting) == before:
            return outs


def _drain_once(st: AuditState) -> list[Out]:
    outs: list[Out] = []
    for w in list(st.waiting):
        for order_id in list(w.orders):
            if isinstance(w.value, SettlementStatementIssued):
                inputs = _settled_inputs(st, w, order_id)
                if inputs is None:
                    continue
                outs += _log(st, Stage.SETTLED, w.at, w.source, inputs, inputs.order,
                             inputs.transaction_id)
            else:
                if order_id not in st.settled:
                    continue
                order = order_of(w.value)
                outs += _log(st, Stage.CLOSED, w.at, w.source, OrderSnapshot(order=order),
                             order, w.value.context.transaction_id)
            w.orders.remove(order_id)
        if not w.orders:
            st.waiting.remove(w)
    return outs


# ---- handlers ---------------------------------------------------------------------------------


def on_confirm(st: AuditState, m: Inbound) -> Sequence[Out]:
    """issued: CompFlex commits to the order (Beckn `confirm`)."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    return _log(st, Stage.ISSUED, msg.context.timestamp, _ref(st, m), OrderSnapshot(order=order),
                order, msg.context.transaction_id) + _drain(st)


def on_confirmed(st: AuditState, m: Inbound) -> Sequence[Out]:
    """accepted: the grid confirms the order and its capacity (`on_confirm` CONFIRMED)."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if order.status != OrderStatus.CONFIRMED or msg.error is not None:
        return _drain(st)
    st.orders[msg.context.transaction_id] = order
    return _log(st, Stage.ACCEPTED, msg.context.timestamp, _ref(st, m), OrderSnapshot(order=order),
                order, msg.context.transaction_id) + _drain(st)


def on_update(st: AuditState, m: Inbound) -> Sequence[Out]:
    """instructed (a grid stress event on the order) or adjusted (a flexibility action)."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    txn = msg.context.transaction_id
    event = instruction(txn, order)
    if event is not None:
        st.book.record(event)
        stage = Stage.INSTRUCTED
    elif isinstance(order.attributes, FlexibilityAction):
        stage = Stage.ADJUSTED
    else:
        return _drain(st)
    return _log(st, stage, msg.context.timestamp, _ref(st, m), OrderSnapshot(order=order), order,
                txn) + _drain(st)


def on_status(st: AuditState, m: Inbound) -> Sequence[Out]:
    """closed: settlement completes the order (`on_status` COMPLETED), after its settled entry."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if order.status != OrderStatus.COMPLETED:
        return _drain(st)
    st.waiting.append(Waiting(_ref(st, m), msg.context.timestamp, msg, [order.id]))
    return _drain(st)


def on_day_closed(st: AuditState, m: Inbound) -> Sequence[Out]:
    """delivered: the site's meter has the whole day; one entry per confirmed order there."""
    c = m.value.payload
    st.book.record(c)
    outs: list[Out] = []
    readings = st.book.day_readings(c.site_id, c.day_start, c.day_end)
    responses = tuple(r for _, r in sorted(st.book.responses.items()) if r.site_id == c.site_id)
    for txn, order in sorted(st.orders.items()):
        if site_zone(order)[0] != c.site_id:
            continue
        inputs = DeliveredInputs(
            day_start=c.day_start, day_end=c.day_end, intervals=len(readings),
            import_kwh=round(sum(r.import_kwh for r in readings), 6),
            load_kwh=round(sum(r.load_kwh for r in readings), 6),
            battery_discharge_kwh=round(sum(r.battery_discharge_kwh for r in readings), 6),
            responses=responses)
        outs += _log(st, Stage.DELIVERED, m.value.time, _ref(st, m), inputs, order, txn)
    return outs + _drain(st)


def on_verified(st: AuditState, m: Inbound) -> Sequence[Out]:
    """verified: the metering validator's verdict on the order's response to a stress event."""
    v: FlexibilityVerified = m.value.payload
    st.book.record(v)
    order = st.orders.get(v.transaction_id)
    if order is None:
        return _drain(st)
    return _log(st, Stage.VERIFIED, m.value.time, _ref(st, m), VerifiedInputs(verification=v),
                order, v.transaction_id) + _drain(st)


def on_statement(st: AuditState, m: Inbound) -> Sequence[Out]:
    """settled: one entry per order of the statement, each with every input it used."""
    s: SettlementStatementIssued = m.value.payload
    st.waiting.append(Waiting(_ref(st, m), m.value.time, s, [o.order_id for o in s.orders]))
    return _drain(st)


def on_reading(st: AuditState, m: Inbound) -> Sequence[Out]:
    st.book.record(m.value.payload)
    return []


def on_input(st: AuditState, m: Inbound) -> Sequence[Out]:
    """A zone signal or a response: kept, and it may complete a waiting settled entry."""
    st.book.record(m.value.payload)
    return _drain(st)


HANDLERS = {
    "beckn.confirm": on_confirm,
    "beckn.on_confirm": on_confirmed,
    "beckn.on_update": on_update,
    "beckn.on_status": on_status,
    "metering.reading.recorded": on_reading,
    "metering.day.closed": on_day_closed,
    "metering.flexibility.verified": on_verified,
    "fulfilment.response.dispatched": on_input,
    "grid.signal.published": on_input,
    "settlement.statement.issued": on_statement,
    "settlement.site.settled": ignore,
    "beckn.discover": ignore,
    "beckn.select": ignore,
    "beckn.init": ignore,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
