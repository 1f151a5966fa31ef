"""load-shifter's domain metrics: each site's latest answer to a stress event and the commands
issued, read from what it publishes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.envelope import Envelope
from contracts.events import ResponseDispatched, SiteCommandIssued
from services.common.runner import Observer, Out


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per response and
    per command."""
    shifted = Gauge("fulfilment_shifted_kw", "Load moved away from the site in its latest "
                    "stress response", ["site"], registry=registry)
    battery = Gauge("fulfilment_battery_kw", "Battery discharge dispatched at the site in its "
                    "latest stress response", ["site"], registry=registry)
    shortfall = Gauge("fulfilment_shortfall_kw", "Requested reduction the site's latest stress "
                      "response could not cover", ["site"], registry=registry)
    commands = Counter("fulfilment_commands_total", "Site commands issued", ["site", "action"],
                       registry=registry)

    def observe(out: Out) -> None:
        if not isinstance(out.value, Envelope):
            return
        p = out.value.payload
        if isinstance(p, ResponseDispatched):
            shifted.labels(p.site_id).set(p.shifted_kw)
            battery.labels(p.site_id).set(p.battery_kw)
            shortfall.labels(p.site_id).set(p.shortfall_kw)
        elif isinstance(p, SiteCommandIssued):
            commands.labels(p.site_id, p.action.value).inc()

    return observe
