"""grid-signal's domain metrics: each zone's signal in force, stress events, and the orders by
the status the grid last answered."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.beckn.models import BecknMessage, OrderMessage, OrderStatus
from contracts.envelope import Envelope
from contracts.events import ZoneSignalPublished
from services.common.runner import Observer, Out


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per published
    signal and per Beckn callback."""
    renewable = Gauge("grid_zone_renewable_ratio", "Renewable share of the zone's supply in "
                      "the period last published (0-1)", ["zone"], registry=registry)
    carbon = Gauge("grid_zone_carbon_intensity_grams_per_kwh", "Carbon intensity of the zone's "
                   "supply in the period last published (gCO2/kWh)", ["zone"], registry=registry)
    price = Gauge("grid_zone_price_gbp_per_kwh", "Energy price in the zone in the period last "
                  "published (GBP/kWh)", ["zone"], registry=registry)
    stress = Gauge("grid_stress_active", "1 while the zone's period last published carries a "
                   "stress event, else 0", ["zone"], registry=registry)
    stress_events = Counter("grid_stress_events_total", "Distinct stress events seen in the "
                            "zone's published signals", ["zone"], registry=registry)
    orders = Gauge("grid_orders", "Orders by the Beckn status the grid last answered",
                   ["state"], registry=registry)
    for s in OrderStatus:
        orders.labels(s.value).set(0)
    seen_events: set[tuple[str, str]] = set()
    status_of: dict[str, OrderStatus] = {}

    def on_signal(s: ZoneSignalPublished) -> None:
        renewable.labels(s.zone).set(s.renewable_pct / 100)
        carbon.labels(s.zone).set(s.carbon_g_per_kwh)
        price.labels(s.zone).set(s.price_gbp_per_kwh)
        stress.labels(s.zone).set(0 if s.stress_event_id is None else 1)
        if s.stress_event_id is not None and (s.zone, s.stress_event_id) not in seen_events:
            seen_events.add((s.zone, s.stress_event_id))
            stress_events.labels(s.zone).inc()

    def on_callback(msg: BecknMessage) -> None:
        if not isinstance(msg.message, OrderMessage):
            return
        order = msg.message.order
        # an answer refusing an update leaves the order where it was
        if msg.error is not None and order.status != OrderStatus.REJECTED:
            return
        status_of[order.id] = order.status
        for s in OrderStatus:
            orders.labels(s.value).set(sum(1 for v in status_of.values() if v == s))

    def observe(out: Out) -> None:
        v = out.value
        if isinstance(v, BecknMessage):
            on_callback(v)
        elif isinstance(v, Envelope) and isinstance(v.payload, ZoneSignalPublished):
            on_signal(v.payload)

    return observe
