"""The I/O edge: after a pure handler has queued operations, hand each to the actuator, log and
count the result, and refuse the record (dead letter, with reason) when one could not be
applied. A job command whose start failed is forgotten, so its end is not applied either.
Records re-read at start-up only rebuild state: their operations were already done."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from services.common.runner import Handler, HandlerRejected, Inbound, Out
from services.site_agent.actuation import (
    ActuationResult,
    Actuator,
    Operation,
    OpKind,
    Outcome,
    Routed,
)
from services.site_agent.handlers import AgentState, forget
from services.site_agent.metrics import AgentMetrics

log = logging.getLogger(__name__)
STARTS = frozenset({OpKind.PAUSE, OpKind.MIGRATE_IN})
"""Operations that begin a job command: when one fails, the site never took the command."""


def apply_all(actuator: Actuator, ops: Sequence[Operation],
              metrics: AgentMetrics | None = None) -> list[ActuationResult]:
    """Apply each operation in order; an actuator that raises is a failed result, not a crash."""
    results: list[ActuationResult] = []
    for op in ops:
        t0 = time.perf_counter()
        try:
            r = actuator.apply(op)
        except Exception as exc:  # an actuator bug must not kill the agent: it is reported
            log.exception("actuator %s raised on %s", actuator.name, op)
            r = ActuationResult(op, Outcome.FAILED, f"{type(exc).__name__}: {exc}")
        took = time.perf_counter() - t0
        name = (actuator.for_op(op) if isinstance(actuator, Routed) else actuator).name
        if metrics is not None:
            metrics.observe(name, r, took)
        level = logging.INFO if r.ok else logging.WARNING
        log.log(level, "%s %s -> %s%s (commands %s; %s)", name, op, r.outcome.value,
                f": {r.detail}" if r.detail else "", ",".join(op.command_ids) or "-", op.reason)
        results.append(r)
    return results


def _refusal(failed: list[ActuationResult]) -> HandlerRejected:
    reason = ("unsupported_action" if all(r.outcome == Outcome.UNSUPPORTED for r in failed)
              else "actuation_failed")
    detail = "; ".join(f"{r.operation} (commands {','.join(r.operation.command_ids) or '-'}): "
                       f"{r.outcome.value}: {r.detail}" for r in failed)
    return HandlerRejected(reason, detail[:1800])


def bind(handlers: Mapping[str, Handler[AgentState]], actuator: Actuator,
         metrics: AgentMetrics | None = None) -> dict[str, Handler[AgentState]]:
    """The runner's handlers: each pure handler, then its queued operations applied."""

    def wrap(pure: Handler[AgentState]) -> Handler[AgentState]:
        def handle(st: AgentState, m: Inbound) -> Sequence[Out]:
            st.due.clear()
            outs = pure(st, m)
            ops, st.due = list(st.due), []
            if m.replay:
                return outs
            failed = [r for r in apply_all(actuator, ops, metrics) if not r.ok]
            for r in failed:
                if r.operation.kind in STARTS:
                    forget(st, r.operation.site_id, r.operation.command_ids)
            if failed:
                raise _refusal(failed)
            return outs

        handle.__doc__ = pure.__doc__
        return handle

    return {kind: wrap(h) for kind, h in handlers.items()}
