"""site-agent's domain metrics: every operation handed to its actuator, by outcome."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.site_agent.actuation import ActuationResult, OpKind


@dataclass(frozen=True)
class AgentMetrics:
    actuations: Counter
    seconds: Histogram
    battery_kw: Gauge

    def observe(self, actuator: str, r: ActuationResult, seconds: float) -> None:
        op = r.operation
        self.actuations.labels(actuator, op.kind.value, r.outcome.value).inc()
        self.seconds.labels(actuator).observe(seconds)
        if op.kind == OpKind.SET_BATTERY and r.ok:
            self.battery_kw.labels(op.site_id).set(op.battery_kw)


def agent_metrics(registry: CollectorRegistry) -> AgentMetrics:
    return AgentMetrics(
        actuations=Counter("site_agent_actuations_total", "Operations handed to the actuator",
                           ["actuator", "operation", "outcome"], registry=registry),
        seconds=Histogram("site_agent_actuation_seconds", "Time the actuator took per operation",
                          ["actuator"], registry=registry,
                          buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)),
        battery_kw=Gauge("site_agent_battery_setpoint_kw", "Battery setpoint last applied "
                         "(positive discharges)", ["site"], registry=registry),
    )
