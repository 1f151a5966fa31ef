"""The simulator actuator (the default): the site's state kept in memory.

The site-simulator service already follows `site.commands.v1` to produce the meter readings of
the demo; this actuator is the same site seen from the agent's side, so the agent's behaviour
(what it applies when, idempotence, failures, metrics) runs without a cluster. It enforces the
states a real site has (a workload runs, is paused, or stands by for a move) and answers
`already` when an operation finds the state it asks for; battery setpoints are kept as given."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.site_agent.actuation import ActuationResult, Operation, OpKind, Outcome, Workload


class JobState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STANDBY = "standby"
    """Not running here: a moved-in job before it arrives or after it went home."""


_WANT = {OpKind.PAUSE: JobState.PAUSED, OpKind.RESUME: JobState.RUNNING,
         OpKind.MIGRATE_IN: JobState.RUNNING, OpKind.MIGRATE_OUT: JobState.STANDBY}


@dataclass
class SimulatedSite:
    name: str = "simulator"
    jobs: dict[tuple[str, Workload], JobState] = field(default_factory=dict)
    battery_kw: dict[str, float] = field(default_factory=dict)
    log: list[ActuationResult] = field(default_factory=list)

    def describe(self, op: Operation) -> tuple[str, ...]:
        if op.kind == OpKind.SET_BATTERY:
            return (f"battery {op.site_id} setpoint {op.battery_kw:g} kW",)
        return (f"job {op.workload} at {op.site_id} -> {_WANT[op.kind].value}",)

    def apply(self, op: Operation) -> ActuationResult:
        calls = self.describe(op)
        if op.kind == OpKind.SET_BATTERY:
            before = self.battery_kw.get(op.site_id, 0.0)
            self.battery_kw[op.site_id] = op.battery_kw
            r = ActuationResult(op, Outcome.ALREADY if before == op.battery_kw
                                else Outcome.APPLIED, calls=calls)
        else:
            assert op.workload is not None
            key = (op.site_id, op.workload)
            default = JobState.STANDBY if op.kind == OpKind.MIGRATE_IN else JobState.RUNNING
            want = _WANT[op.kind]
            before_state = self.jobs.get(key, default)
            self.jobs[key] = want
            r = ActuationResult(op, Outcome.ALREADY if before_state == want else Outcome.APPLIED,
                                f"{before_state.value} -> {want.value}", calls)
        self.log.append(r)
        return r
