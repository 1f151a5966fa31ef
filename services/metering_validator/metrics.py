"""metering-validator's domain metrics: each verified stress response, read from the
verifications it publishes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.envelope import Envelope
from contracts.events import FlexibilityVerified, Verdict
from services.common.runner import Observer, Out


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per
    verification."""
    kw = Gauge("flexibility_verified_kw", "Reduction delivered at the stressed site, programme "
               "baseline minus metered import, over the event", ["site", "event"],
               registry=registry)
    kwh = Gauge("flexibility_delivered_kwh", "Energy delivered at the stressed site over the "
                "event (baseline kWh minus imported kWh)", ["site", "event"], registry=registry)
    net = Gauge("flexibility_net_system_kw", "Delivered reduction less the receiving sites' "
                "metered increase", ["event"], registry=registry)
    verdicts = Counter("flexibility_verifications_total", "Stress responses verified, by "
                       "verdict", ["verdict"], registry=registry)
    for v in Verdict:
        verdicts.labels(v.value)

    def observe(out: Out) -> None:
        if not isinstance(out.value, Envelope):
            return
        v = out.value.payload
        if not isinstance(v, FlexibilityVerified):
            return
        kw.labels(v.site_id, v.event_id).set(v.delivered_kw)
        kwh.labels(v.site_id, v.event_id).set(v.delivered_kwh)
        net.labels(v.event_id).set(v.net_system_kw)
        verdicts.labels(v.verdict.value).inc()

    return observe
