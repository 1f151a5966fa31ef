"""planner's domain metrics: CompFlex's orders by state and the placements it scheduled, read
from what it sends."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.beckn.models import Action, BecknMessage, OrderMessage
from contracts.envelope import Envelope
from contracts.events import PlacementScheduled
from services.common.runner import Observer, Out

SELECTED, CONFIRMED = "selected", "confirmed"


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per `select` sent
    (the order is selected) and per placement scheduled (its order is confirmed)."""
    orders = Gauge("compflex_orders", "CompFlex's orders by state: selected (select sent), "
                   "confirmed (the grid confirmed it and its placements were scheduled)",
                   ["state"], registry=registry)
    placements = Counter("compflex_placements_total", "Job parts scheduled at the site under "
                         "a confirmed order", ["site"], registry=registry)
    for s in (SELECTED, CONFIRMED):
        orders.labels(s).set(0)
    state_of: dict[str, str] = {}

    def move(order_id: str, state: str) -> None:
        if state_of.get(order_id) == state:
            return
        state_of[order_id] = state
        for s in (SELECTED, CONFIRMED):
            orders.labels(s).set(sum(1 for v in state_of.values() if v == s))

    def observe(out: Out) -> None:
        v = out.value
        if isinstance(v, BecknMessage):
            if v.context.action == Action.SELECT and isinstance(v.message, OrderMessage):
                move(v.message.order.id, SELECTED)
        elif isinstance(v, Envelope) and isinstance(v.payload, PlacementScheduled):
            p = v.payload
            placements.labels(p.site_id).inc()
            move(p.order_id, CONFIRMED)

    return observe
