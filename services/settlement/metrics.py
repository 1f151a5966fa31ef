"""settlement's domain metrics: cost, carbon and payment per Beckn order id, energy per site,
and the orders closed, read from the statement and the on_status messages it publishes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.beckn.models import Action, BecknMessage, OrderMessage, OrderStatus
from contracts.envelope import Envelope
from contracts.events import SettlementStatementIssued
from services.common.runner import Observer, Out


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per statement and
    per on_status."""
    cost = Gauge("settlement_cost_gbp", "The order's energy cost on the day settled: actual "
                 "(metered) or baseline (nominated, no flexibility)", ["order_id", "basis"],
                 registry=registry)
    carbon = Gauge("settlement_carbon_kg", "The order's location-based emissions on the day "
                   "settled: actual or baseline", ["order_id", "basis"], registry=registry)
    payment = Gauge("settlement_flex_payment_gbp", "Flexibility payment earned by the order on "
                    "the day settled", ["order_id"], registry=registry)
    energy = Gauge("settlement_site_energy_kwh", "Energy the site imported on the day settled",
                   ["site"], registry=registry)
    completed = Counter("settlement_orders_completed_total", "Orders closed with an on_status "
                        "COMPLETED", registry=registry)

    def on_statement(s: SettlementStatementIssued) -> None:
        for o in s.orders:
            cost.labels(o.order_id, "actual").set(o.cost_gbp)
            cost.labels(o.order_id, "baseline").set(o.baseline_cost_gbp)
            carbon.labels(o.order_id, "actual").set(o.carbon_kg)
            carbon.labels(o.order_id, "baseline").set(o.baseline_carbon_kg)
            payment.labels(o.order_id).set(o.flex_payment_gbp)
        for site in s.sites:
            energy.labels(site.site_id).set(site.energy_kwh)

    def observe(out: Out) -> None:
        v = out.value
        if isinstance(v, BecknMessage):
            if (v.context.action == Action.ON_STATUS and isinstance(v.message, OrderMessage)
                    and v.message.order.status == OrderStatus.COMPLETED):
                completed.inc()
        elif isinstance(v, Envelope) and isinstance(v.payload, SettlementStatementIssued):
            on_statement(v.payload)

    return observe
