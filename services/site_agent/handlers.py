"""Site agent handlers (pure): keep this site's commands, move event time, and leave in
`state.due` the operations that bring the site to what its active commands ask for. The edge
(`executor.py`) hands those to the actuator; these functions touch no scheduler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.events import ClockAdvanced, SiteCommandIssued
from services.common.runner import HandlerRejected, Inbound, Out
from services.site_agent.actuation import Operation
from services.site_agent.domain import IDLE, CommandInvalid, Target, check, operations, target_at


@dataclass
class SiteState:
    commands: dict[str, SiteCommandIssued] = field(default_factory=dict)
    applied: Target = IDLE
    applied_at: datetime | None = None


@dataclass
class AgentState:
    site_ids: frozenset[str]
    now: datetime | None = None
    sites: dict[str, SiteState] = field(default_factory=dict)
    due: list[Operation] = field(default_factory=list)
    ignored: int = 0
    """Commands for sites this agent does not drive."""


def _advance(st: AgentState, t: datetime) -> None:
    """Move to max(now, t); queue each site's operations; forget commands that are over."""
    st.now = t if st.now is None or t > st.now else st.now
    for site_id in sorted(st.sites):
        site = st.sites[site_id]
        target = target_at(site.commands.values(), st.now)
        st.due.extend(operations(site_id, site.commands.values(), site.applied, target,
                                 site.applied_at, st.now))
        site.applied, site.applied_at = target, st.now
        for cid in [c for c, cmd in site.commands.items() if cmd.end <= st.now]:
            del site.commands[cid]


def forget(st: AgentState, site_id: str, command_ids: tuple[str, ...]) -> None:
    """Drop commands whose start could not be applied: the site never took them, so their
    end must not be applied either."""
    site = st.sites.get(site_id)
    if site is None:
        return
    for cid in command_ids:
        site.commands.pop(cid, None)
    if site.applied_at is not None:
        site.applied = target_at(site.commands.values(), site.applied_at)


def on_command_issued(st: AgentState, m: Inbound) -> Sequence[Out]:
    """Take a command for one of our sites (a command id seen before changes nothing) and act
    on it at once when its window has begun; a replacement drops the command it replaces
    first (an early end resumes now; an empty one cancels); refuse what no actuator can act
    on."""
    cmd: SiteCommandIssued = m.value.payload
    if cmd.site_id not in st.site_ids:
        st.ignored += 1
        return []
    site = st.sites.setdefault(cmd.site_id, SiteState())
    if cmd.command_id in site.commands:
        return []
    now = m.value.time if st.now is None or m.value.time > st.now else st.now
    try:
        check(cmd, now)
    except CommandInvalid as exc:
        raise HandlerRejected(exc.reason, exc.detail) from exc
    if cmd.replaces is not None:
        site.commands.pop(cmd.replaces, None)
    if cmd.end > cmd.start:
        site.commands[cmd.command_id] = cmd
    _advance(st, m.value.time)
    return []


def on_clock_advanced(st: AgentState, m: Inbound) -> Sequence[Out]:
    """Event time moves: begin and end the commands whose window edges were crossed."""
    tick = m.value.payload
    assert isinstance(tick, ClockAdvanced)
    _advance(st, tick.now)
    return []


HANDLERS = {
    "site.command.issued": on_command_issued,
    "sim.clock.advanced": on_clock_advanced,
}
