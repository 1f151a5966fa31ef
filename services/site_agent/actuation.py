"""The one small interface every actuator implements: apply one operation, say what happened.

Operations are declarative ("make it so"), never toggles: applying one twice leaves the site as
applying it once, and the second answer is `already`. That is what makes the agent idempotent
across redeliveries and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class OpKind(StrEnum):
    PAUSE = "pause"
    """Stop a workload here for a while (checkpoint-friendly: suspend, or requeue and hold)."""
    RESUME = "resume"
    """Undo a pause."""
    MIGRATE_IN = "migrate_in"
    """Start, at this site, a workload that moved here (its standby copy is released)."""
    MIGRATE_OUT = "migrate_out"
    """Stop the moved-in workload here again: its work returns home."""
    SET_BATTERY = "set_battery"
    """Battery setpoint in kW: positive discharges, negative charges, 0 idles."""


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY = "already"
    DRY_RUN = "dry_run"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


@dataclass(frozen=True)
class Workload:
    """A training job part as CompFlex names it; each actuator maps it to its own objects."""

    job_id: str
    part_id: str | None = None

    def __str__(self) -> str:
        return self.job_id if self.part_id is None else f"{self.job_id}/{self.part_id}"


@dataclass(frozen=True)
class Operation:
    kind: OpKind
    site_id: str
    workload: Workload | None = None
    battery_kw: float = 0.0
    command_ids: tuple[str, ...] = ()
    reason: str = ""

    def __str__(self) -> str:
        what = f"{self.battery_kw:g} kW" if self.kind == OpKind.SET_BATTERY else str(self.workload)
        return f"{self.kind.value} {what} at {self.site_id}"


@dataclass(frozen=True)
class ActuationResult:
    operation: Operation
    outcome: Outcome
    detail: str = ""
    calls: tuple[str, ...] = ()
    """What was sent to the scheduler (API requests, command lines), for logs and tests."""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.ALREADY, Outcome.DRY_RUN)


class ActuationError(RuntimeError):
    """An actuator could not carry out an operation; the message says why, for an operator."""


class Actuator(Protocol):
    """What the site agent drives. `apply` must be idempotent; `describe` has no side effects."""

    name: str

    def apply(self, op: Operation) -> ActuationResult: ...

    def describe(self, op: Operation) -> tuple[str, ...]:
        """The calls `apply` would make, without making them (dry-run logs these)."""
        ...


def unsupported(op: Operation, actuator: str) -> ActuationResult:
    return ActuationResult(op, Outcome.UNSUPPORTED, f"{actuator} cannot {op.kind.value}")


@dataclass(frozen=True)
class Routed:
    """Job operations to one actuator, battery setpoints to another (a Kubernetes cluster and a
    battery controller are different machines)."""

    jobs: Actuator
    battery: Actuator

    @property
    def name(self) -> str:
        return self.jobs.name

    def for_op(self, op: Operation) -> Actuator:
        return self.battery if op.kind == OpKind.SET_BATTERY else self.jobs

    def apply(self, op: Operation) -> ActuationResult:
        return self.for_op(op).apply(op)

    def describe(self, op: Operation) -> tuple[str, ...]:
        return self.for_op(op).describe(op)
