"""What a site should be doing at an instant, given its commands, and the operations that take
it from what was last applied to that (pure).

A command acts over [start, end) of event time. At any instant a workload is *held* while any
`pause_job` command for it is active, *hosted* while any `start_job` for it is active, and the
battery setpoint is the sum of the active `battery_discharge` minus `battery_charge` powers.
Deriving the state from every active command, rather than toggling per command, keeps
overlapping commands right: the end of one pause does not resume a job another pause still holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from contracts.events import CommandAction, SiteCommandIssued
from services.site_agent.actuation import Operation, OpKind, Workload

EPS = 1e-9
JOB_ACTIONS = frozenset({CommandAction.PAUSE_JOB, CommandAction.START_JOB})
BATTERY_ACTIONS = frozenset({CommandAction.BATTERY_DISCHARGE, CommandAction.BATTERY_CHARGE})


class CommandInvalid(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Target:
    held: frozenset[Workload] = frozenset()
    hosted: frozenset[Workload] = frozenset()
    battery_kw: float = 0.0


IDLE = Target()


def check(cmd: SiteCommandIssued, now: datetime | None) -> None:
    """Refuse what no actuator can act on: an unknown action, a job command without a job, a
    command whose window is empty or already over. A replacement may be both: it cuts the
    command it replaces short (to now, or to nothing)."""
    if cmd.action not in JOB_ACTIONS | BATTERY_ACTIONS:
        raise CommandInvalid("unsupported_action", f"{cmd.command_id}: {cmd.action}")
    if cmd.action in JOB_ACTIONS and not cmd.job_id:
        raise CommandInvalid("invalid_command", f"{cmd.command_id}: {cmd.action} without job_id")
    if cmd.end < cmd.start or (cmd.end == cmd.start and cmd.replaces is None):
        raise CommandInvalid("invalid_command", f"{cmd.command_id}: empty window, end "
                             f"{cmd.end.isoformat()} <= start {cmd.start.isoformat()}")
    if now is not None and cmd.end <= now and cmd.replaces is None:
        raise CommandInvalid("command_expired", f"{cmd.command_id}: ended {cmd.end.isoformat()}, "
                             f"the site is at {now.isoformat()}")


def workload_of(cmd: SiteCommandIssued) -> Workload:
    assert cmd.job_id is not None
    return Workload(cmd.job_id, cmd.part_id)


def active(commands: Iterable[SiteCommandIssued], t: datetime) -> list[SiteCommandIssued]:
    return [c for c in commands if c.start <= t < c.end]


def target_at(commands: Iterable[SiteCommandIssued], t: datetime) -> Target:
    now = active(commands, t)
    held = frozenset(workload_of(c) for c in now if c.action == CommandAction.PAUSE_JOB)
    hosted = frozenset(workload_of(c) for c in now if c.action == CommandAction.START_JOB)
    kw = sum(c.power_kw for c in now if c.action == CommandAction.BATTERY_DISCHARGE) - sum(
        c.power_kw for c in now if c.action == CommandAction.BATTERY_CHARGE)
    return Target(held, hosted, round(kw, 9))


def _cause(commands: Iterable[SiteCommandIssued], action: CommandAction,
           w: Workload | None) -> tuple[tuple[str, ...], str]:
    mine = sorted((c for c in commands if c.action == action
                   and (w is None or workload_of(c) == w)), key=lambda c: c.command_id)
    return tuple(c.command_id for c in mine), " | ".join(dict.fromkeys(c.reason for c in mine))


def operations(site_id: str, commands: Iterable[SiteCommandIssued], before: Target,
               after: Target, t_before: datetime | None, t_after: datetime) -> tuple[Operation, ...]:
    """The operations from `before` (applied at t_before) to `after` (due at t_after): load is
    shed first (pause, migrate out), then the battery, then load taken back (resume, migrate
    in); workloads in name order. Each carries the ids and reasons of the commands behind it."""
    cmds = list(commands)
    was = active(cmds, t_before) if t_before is not None else []
    now = active(cmds, t_after)
    ops: list[Operation] = []

    def job_ops(kind: OpKind, ws: frozenset[Workload], action: CommandAction,
                source: list[SiteCommandIssued]) -> None:
        for w in sorted(ws, key=lambda w: (w.job_id, w.part_id or "")):
            ids, why = _cause(source, action, w)
            ops.append(Operation(kind, site_id, w, command_ids=ids,
                                 reason=why or f"{kind.value}: its command window ended"))

    job_ops(OpKind.PAUSE, after.held - before.held, CommandAction.PAUSE_JOB, now)
    job_ops(OpKind.MIGRATE_OUT, before.hosted - after.hosted, CommandAction.START_JOB,
            was or cmds)
    if abs(after.battery_kw - before.battery_kw) > EPS:
        src = [c for c in (now or was) if c.action in BATTERY_ACTIONS]
        ids = tuple(sorted(c.command_id for c in src))
        why = " | ".join(dict.fromkeys(c.reason for c in src)) or "battery commands ended"
        ops.append(Operation(OpKind.SET_BATTERY, site_id, battery_kw=after.battery_kw,
                             command_ids=ids, reason=why))
    job_ops(OpKind.RESUME, before.held - after.held, CommandAction.PAUSE_JOB, was or cmds)
    job_ops(OpKind.MIGRATE_IN, after.hosted - before.hosted, CommandAction.START_JOB, now)
    return tuple(ops)
