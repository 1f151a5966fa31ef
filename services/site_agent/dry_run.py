"""Dry run: log what the wrapped actuator would do and touch nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.site_agent.actuation import (
    ActuationResult,
    Actuator,
    Operation,
    Outcome,
    unsupported,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRun:
    inner: Actuator

    @property
    def name(self) -> str:
        return f"dry-run:{self.inner.name}"

    def describe(self, op: Operation) -> tuple[str, ...]:
        return self.inner.describe(op)

    def apply(self, op: Operation) -> ActuationResult:
        calls = self.inner.describe(op)
        if not calls:
            return unsupported(op, self.inner.name)
        for call in calls:
            log.info("dry run: would %s (%s; commands %s)", call, op,
                     ",".join(op.command_ids) or "-")
        return ActuationResult(op, Outcome.DRY_RUN, "not applied (dry run)", calls)
