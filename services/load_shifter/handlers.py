"""Load-shifter handlers: answer grid stress events with site commands and Beckn updates.

The policy is `policy.decide`; `domain` reads the plan, orders and commands as the sites' live
state. docs/fulfilment.md walks through every case handled here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from contracts.beckn.models import Action as BecknAction
from contracts.beckn.models import BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import (
    FlexibilityAction,
    GridStressEvent,
    OrderLine,
    ShiftAction,
)
from contracts.events import (
    CommandAction,
    PlacementScheduled,
    ResponseDispatched,
    SiteCommandIssued,
    SiteRegistered,
)
from contracts.topics import BECKN_UPDATES, COMMANDS, RESPONSES
from services.common.beckn import Parties, order_of, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Inbound, Out, ignore
from services.load_shifter import domain
from services.load_shifter.policy import Costs, Decision, SiteState, StepKind, StressEvent, decide

log = logging.getLogger(__name__)
SOURCE = "load-shifter"
BATTERY = (CommandAction.BATTERY_DISCHARGE, CommandAction.BATTERY_CHARGE)


@dataclass
class ActiveEvent:
    """One stress event at one site, as answered so far."""

    event: StressEvent
    zone: str
    transaction_id: str
    order_load_kw: float
    command_ids: list[str]
    shifted_to: tuple[str, ...]
    shifted_kw: float
    awaiting_kw: float
    paused_kw: float
    battery_kw: float
    already_kw: float
    revision: int = 0

    @property
    def key(self) -> str:
        return f"{self.event.event_id}/{self.event.site_id}"

    @property
    def shortfall_kw(self) -> float:
        got = (self.shifted_kw + self.awaiting_kw + self.paused_kw + self.battery_kw
               + self.already_kw)
        return max(0.0, self.event.requested_kw - got)


@dataclass
class PendingMove:
    """Parts paused at their site until the grid confirms capacity for them at `dest`."""

    event_key: str
    dest: str
    transaction_id: str
    new_load_kw: float
    parts: tuple[tuple[str, str, float, datetime, datetime], ...]
    cancelled: str | None = None


@dataclass
class ShifterState:
    """The plan, confirmed orders (and capacity granted since), each battery's initial charge,
    every command issued (latest version), events answered and moves awaiting the grid."""

    sites: dict[str, SiteRegistered] = field(default_factory=dict)
    placements: dict[str, PlacementScheduled] = field(default_factory=dict)
    orders: dict[str, BecknMessage] = field(default_factory=dict)
    lines: dict[str, tuple[OrderLine, ...]] = field(default_factory=dict)
    granted_kw: dict[str, float] = field(default_factory=dict)
    soc_kwh: dict[str, float] = field(default_factory=dict)
    commands: dict[str, SiteCommandIssued] = field(default_factory=dict)
    by_site: dict[str, dict[str, PlacementScheduled]] = field(default_factory=dict)
    commands_by_site: dict[str, dict[str, SiteCommandIssued]] = field(default_factory=dict)
    parts: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)
    profiles: dict[str, domain.DrawProfile] = field(default_factory=dict)
    """Each site's load profile, built when first needed and dropped when its inputs change."""
    events: dict[str, ActiveEvent] = field(default_factory=dict)
    pending: dict[str, PendingMove] = field(default_factory=dict)
    costs: Costs = field(default_factory=Costs)

    def site_commands(self, site_id: str) -> list[SiteCommandIssued]:
        return list(self.commands_by_site.get(site_id, {}).values())


def _key(p: PlacementScheduled) -> str:
    return f"{p.job_id}/{p.part_id}@{p.site_id}/{p.start.isoformat()}"


def soc_at(st: ShifterState, site_id: str, t: datetime) -> float:
    """The site battery's charge at `t` as commanded so far (0 without a battery)."""
    site = st.sites.get(site_id)
    if site is None or site.battery is None:
        return 0.0
    return domain.soc_at(site.battery, st.soc_kwh.get(site_id, 0.0),
                         [c for c in st.site_commands(site_id) if c.action in BATTERY], t)


def on_site_registered(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """Know each site's battery and start from its initial state of charge."""
    site = m.value.payload
    st.sites[site.site_id] = site
    if site.battery is not None:
        st.soc_kwh[site.site_id] = site.battery.initial_soc_pct / 100 * site.battery.energy_kwh
    return []


def on_placement_scheduled(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """Know what runs where, under which confirmed order."""
    p = m.value.payload
    st.placements[_key(p)] = p
    st.by_site.setdefault(p.site_id, {})[_key(p)] = p
    st.parts[(p.job_id, p.part_id)] = (p.critical, p.migratable)
    st.profiles.pop(p.site_id, None)
    return []


def on_order_confirmed(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """Keep each confirmed order: its lines give each site's confirmed capacity, and updates
    are sent against it."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if order.status == OrderStatus.CONFIRMED:
        st.orders[msg.context.transaction_id] = msg
        st.lines[msg.context.transaction_id] = tuple(i.attributes for i in order.items)
    return []


def site_states(st: ShifterState, ev: StressEvent) -> dict[str, SiteState]:
    """Every site's live state over the event's span: jobs and battery of the stressed site;
    orders and draw of the others (draw only where work could be moved)."""
    s, e = ev.start, ev.end
    lines = [(txn, ln) for txn, ls in st.lines.items() for ln in ls]
    # zones under an answered event overlapping this one (once per decision, not per site)
    busy = {a.zone for a in st.events.values() if a.event.start < e and a.event.end > s}
    out = {}
    for site_id, site in st.sites.items():
        cmds = st.site_commands(site_id)
        places = list(st.by_site.get(site_id, {}).values())
        cover = domain.order_cover(lines, site_id, s, e, st.granted_kw)
        batt = None
        if site.battery is not None and site_id == ev.site_id:
            batt = domain.battery_state(site.battery, st.soc_kwh.get(site_id, 0.0),
                                        [c for c in cmds if c.action in BATTERY], s, e)
        jobs = (domain.running_jobs(site_id, s, e, places, cmds, st.parts)
                if site_id == ev.site_id else ())
        stressed = site_id != ev.site_id and site.zone in busy
        # Only a possible destination needs its draw (its headroom): skip the sweep otherwise.
        dest = (site_id != ev.site_id and cover is not None and not stressed
                and site.zone != st.sites[ev.site_id].zone)
        draw = 0.0
        if dest:
            prof = st.profiles.get(site_id)
            if prof is None:
                prof = st.profiles[site_id] = domain.draw_profile(places, cmds)
            draw = prof.peak(s, e)
        out[site_id] = SiteState(site_id, site.zone, jobs, draw,
                                 None if cover is None else cover.confirmed_kw, batt, stressed)
    return out


def _cmd(cause: str, i: int, site_id: str, action: CommandAction, kw: float, s: datetime,
         e: datetime, event_id: str, reason: str, job_id: str | None = None,
         part_id: str | None = None, replaces: str | None = None) -> SiteCommandIssued:
    return SiteCommandIssued(
        command_id=stable_id("command", cause, site_id, i), site_id=site_id, action=action,
        power_kw=kw, start=s, end=e, job_id=job_id, part_id=part_id, event_id=event_id,
        reason=reason[:500], replaces=replaces)


def _commands(st: ShifterState, d: Decision, cause: str) -> list[SiteCommandIssued]:
    ev = d.event
    out: list[SiteCommandIssued] = []

    def add(*a: object, **k: object) -> None:
        out.append(_cmd(cause, len(out), *a, **k))  # type: ignore[arg-type]

    for step in d.steps:
        j = {"job_id": step.job_id, "part_id": step.part_id}
        if step.kind in (StepKind.MIGRATE, StepKind.MIGRATE_AFTER_CAPACITY, StepKind.PAUSE):
            add(step.site_id, CommandAction.PAUSE_JOB, step.power_kw, step.start, step.end,
                ev.event_id, step.reason, **j)
        if step.kind == StepKind.MIGRATE:
            add(step.to_site, CommandAction.START_JOB, step.power_kw, step.start, step.end,
                ev.event_id, step.reason, **j)
        if step.kind == StepKind.BATTERY:
            add(step.site_id, CommandAction.BATTERY_DISCHARGE, step.power_kw, step.start,
                step.end, ev.event_id, step.reason)
            charge = _recharge(st, step.site_id, step.power_kw, step.start, step.end,
                               ev.event_id)
            if charge is not None:
                add(*charge)
    return out


def _recharge(st: ShifterState, site_id: str, kw: float, s: datetime, e: datetime,
              event_id: str) -> tuple[object, ...] | None:
    """Put back what a discharge over [s, e) takes, at full power from the recharge time."""
    b = st.sites[site_id].battery
    if b is None or b.recharge_from is None or e <= s:
        return None
    kwh = kw * (e - s).total_seconds() / 3600
    grid_kwh = kwh / b.round_trip_efficiency
    r_start = max(b.recharge_from, e)
    r_end = r_start + timedelta(hours=grid_kwh / b.power_kw)
    return (site_id, CommandAction.BATTERY_CHARGE, b.power_kw, r_start, r_end, event_id,
            (f"stress {event_id}: recharge {grid_kwh:.2f} kWh from the grid to restore the "
             f"{kwh:.6g} kWh discharged"))


def _shift_action(c: SiteCommandIssued) -> ShiftAction:
    return ShiftAction(action=c.action.value, site_id=c.site_id, power_kw=c.power_kw,
                       start=c.start, end=max(c.start, c.end), reason=c.reason,
                       job_id=c.job_id, part_id=c.part_id)


def _update(st: ShifterState, txn: str, act: FlexibilityAction, cause: str,
            at: datetime) -> Out:
    held = st.orders[txn]
    c = held.context
    order = order_of(held).model_copy(update={"status": OrderStatus.INPROGRESS,
                                              "attributes": act})
    msg = request(Parties(c.bap_id, c.bap_uri, c.bpp_id, c.bpp_uri), BecknAction.UPDATE, txn,
                  cause, at, OrderMessage(order=order))  # type: ignore[arg-type]
    return Out(BECKN_UPDATES, txn, msg)


def _send(commands: Sequence[SiteCommandIssued], at: datetime) -> list[Out]:
    return [Out(COMMANDS, c.site_id, envelope(c, id=c.command_id, time=at, source=SOURCE))
            for c in commands]


def _record(st: ShifterState, commands: Sequence[SiteCommandIssued]) -> None:
    for c in commands:
        mine = st.commands_by_site.setdefault(c.site_id, {})
        if c.replaces is not None:
            st.commands.pop(c.replaces, None)
            mine.pop(c.replaces, None)
        st.commands[c.command_id] = c
        mine[c.command_id] = c
        st.profiles.pop(c.site_id, None)


def _response(a: ActiveEvent, at: datetime) -> Out:
    r = ResponseDispatched(
        event_id=a.event.event_id, site_id=a.event.site_id, requested_kw=a.event.requested_kw,
        shifted_kw=a.shifted_kw, shifted_to=a.shifted_to, battery_kw=a.battery_kw,
        shortfall_kw=a.shortfall_kw, command_ids=tuple(a.command_ids), start=a.event.start,
        end=a.event.end, paused_kw=a.paused_kw, awaiting_capacity_kw=a.awaiting_kw,
        revision=a.revision)
    rid = stable_id("response", a.key) if a.revision == 0 else stable_id("response", a.key,
                                                                          a.revision)
    return Out(RESPONSES, a.event.site_id, envelope(r, id=rid, time=at, source=SOURCE))


def _stressed_update(st: ShifterState, a: ActiveEvent, cause: str, at: datetime) -> Out:
    mine = [st.commands[i] for i in a.command_ids
            if i in st.commands and st.commands[i].site_id == a.event.site_id]
    return _update(st, a.transaction_id, FlexibilityAction(
        event_id=a.event.event_id, role="stressed_site",
        reduction_kw=a.shifted_kw + a.awaiting_kw + a.paused_kw + a.battery_kw + a.already_kw,
        shifted_kw=a.shifted_kw + a.awaiting_kw, battery_kw=a.battery_kw,
        new_compute_load_kw=max(0.0, a.order_load_kw - a.shifted_kw - a.awaiting_kw
                                - a.paused_kw - a.already_kw),
        actions=tuple(_shift_action(c) for c in mine)), cause, at)


def _stress(st: ShifterState, msg: BecknMessage, ev: GridStressEvent) -> Sequence[Out]:
    order = order_of(msg)
    sites = {i.attributes.site_id for i in order.items}
    if len(sites) != 1:
        raise HandlerRejected("invalid_order", f"order {order.id} spans sites {sorted(sites)}")
    site_id = sites.pop()
    if site_id not in st.sites:
        raise HandlerRejected("unknown_site", f"stress event {ev.event_id} for {site_id}")
    if msg.context.transaction_id not in st.orders:
        raise HandlerRejected("unknown_order", f"no confirmed order {order.id}")
    key = f"{ev.event_id}/{site_id}"
    known = st.events.get(key)
    if known is not None:
        if ev.end < known.event.end and ev.end >= known.event.start:
            return _ended_early(st, known, ev.end, msg.context.timestamp)
        if ev.end > known.event.end:
            log.warning("stress %s at %s: a later end (%s) is not handled; still answering "
                        "until %s", ev.event_id, site_id, ev.end, known.event.end)
        return []
    event = StressEvent(ev.event_id, site_id, ev.start, ev.end, ev.requested_reduction_kw,
                        ev.price_delta_gbp_per_kwh)
    at = ev.start
    outs: list[Out] = []
    # A move awaiting capacity at this site will not start here now.
    for mid, pm in sorted(st.pending.items()):
        if pm.dest == site_id and pm.cancelled is None:
            pm.cancelled = f"{site_id} came under stress {ev.event_id}"
    states = site_states(st, event)
    d = decide(event, states, st.costs)
    cause = f"stress/{key}"
    commands = _commands(st, d, cause)
    _record(st, commands)
    outs += _send(commands, at)
    for step in d.steps:
        log.info("%s", step.reason)
    load = max((i.attributes.compute_load_kw for i in order.items
                if i.attributes.slot_start < ev.end and i.attributes.slot_end > ev.start),
               default=max(i.attributes.compute_load_kw for i in order.items))
    shifted_to = tuple(dict.fromkeys(s.to_site for s in d.steps
                                     if s.kind == StepKind.MIGRATE and s.to_site))
    a = ActiveEvent(event, st.sites[site_id].zone, msg.context.transaction_id, load,
                    [c.command_id for c in commands], shifted_to, d.shifted_kw, d.awaiting_kw,
                    d.paused_kw, d.battery_kw, d.already_kw)
    st.events[key] = a
    outs.append(_response(a, at))
    if a.shortfall_kw > 0:
        log.warning("stress %s at %s: %.1f kW short of the %.1f kW requested", ev.event_id,
                    site_id, a.shortfall_kw, event.requested_kw)
    outs.append(_stressed_update(st, a, key, at))
    moved_in: dict[str, float] = {}
    for s in d.steps:
        if s.kind == StepKind.MIGRATE and s.to_site:
            moved_in[s.to_site] = moved_in.get(s.to_site, 0.0) + s.power_kw
    lines = [(txn, ln) for txn, ls in st.lines.items() for ln in ls]
    for dest in sorted(set(moved_in) | set(d.capacity_requests)):
        cover = domain.order_cover(lines, dest, ev.start, ev.end, st.granted_kw)
        if cover is None or cover.transaction_id not in st.orders:
            continue
        base = states[dest].draw_kw + moved_in.get(dest, 0.0)
        if dest in moved_in:
            theirs = [c for c in commands if c.site_id == dest]
            outs.append(_update(st, cover.transaction_id, FlexibilityAction(
                event_id=ev.event_id, role="receiving_site", reduction_kw=0.0,
                shifted_kw=moved_in[dest], battery_kw=0.0, new_compute_load_kw=base,
                actions=tuple(_shift_action(c) for c in theirs)), f"{key}/{dest}", at))
        if dest in d.capacity_requests:
            waiting = [s for s in d.steps
                       if s.kind == StepKind.MIGRATE_AFTER_CAPACITY and s.to_site == dest]
            extra = sum(s.power_kw for s in waiting)
            ask = _update(st, cover.transaction_id, FlexibilityAction(
                event_id=ev.event_id, role="receiving_site", reduction_kw=0.0,
                shifted_kw=extra, battery_kw=0.0, new_compute_load_kw=base + extra,
                actions=tuple(ShiftAction(action="start_job", site_id=dest, power_kw=s.power_kw,
                                          start=s.start, end=s.end, reason=s.reason,
                                          job_id=s.job_id, part_id=s.part_id)
                              for s in waiting)), f"{key}/{dest}/capacity", at)
            assert isinstance(ask.value, BecknMessage)
            st.pending[ask.value.context.message_id] = PendingMove(
                key, dest, cover.transaction_id, base + extra,
                tuple((s.job_id or "", s.part_id or "", s.power_kw, s.start, s.end)
                      for s in waiting))
            outs.append(ask)
    return outs


def _ended_early(st: ShifterState, a: ActiveEvent, end: datetime, at: datetime) -> list[Out]:
    """The grid ended the event at `end`: every command of it still running past `end` is
    replaced by one ending then (work returns, the battery stops) and the recharge shrinks to
    what was discharged."""
    key = a.key
    cause = f"ends/{key}/{end.isoformat()}"
    a.event = replace(a.event, end=end)
    new: list[SiteCommandIssued] = []
    discharged: dict[str, float] = {}
    for cid in list(a.command_ids):
        c = st.commands.get(cid)
        if c is None:
            continue
        if c.action == CommandAction.BATTERY_DISCHARGE:
            kept = max(0.0, (min(c.end, end) - c.start).total_seconds() / 3600)
            discharged[c.site_id] = discharged.get(c.site_id, 0.0) + c.power_kw * kept
        if c.action == CommandAction.BATTERY_CHARGE or c.end <= end:
            continue
        why = (f"stress {a.event.event_id} ended early at {end:%H:%M}: "
               + ("work returns" if c.job_id else "battery stops") + f" (was: {c.reason})")
        new.append(_cmd(cause, len(new), c.site_id, c.action, c.power_kw, c.start,
                        max(c.start, end), c.event_id, why, c.job_id, c.part_id, c.command_id))
    for cid in list(a.command_ids):
        c = st.commands.get(cid)
        if c is None or c.action != CommandAction.BATTERY_CHARGE:
            continue
        b = st.sites[c.site_id].battery
        assert b is not None
        kwh = discharged.get(c.site_id, 0.0)
        r_end = c.start + timedelta(hours=kwh / b.round_trip_efficiency / b.power_kw)
        if r_end < c.end:
            new.append(_cmd(cause, len(new), c.site_id, c.action, c.power_kw, c.start, r_end,
                            c.event_id, f"stress {a.event.event_id} ended early at "
                            f"{end:%H:%M}: recharge {kwh / b.round_trip_efficiency:.2f} kWh "
                            f"to restore the {kwh:.6g} kWh discharged", replaces=c.command_id))
    _record(st, new)
    replaced = {c.replaces: c.command_id for c in new}
    a.command_ids = [replaced.get(i, i) for i in a.command_ids]
    a.revision += 1
    log.info("stress %s at %s ended early at %s: %d commands cut short", a.event.event_id,
             a.event.site_id, end, len(new))
    return [*_send(new, at), _response(a, at), _stressed_update(st, a, cause, at)]


def _answer(st: ShifterState, msg: BecknMessage, act: FlexibilityAction) -> Sequence[Out]:
    """The grid's answer to our update: a move awaiting capacity starts once it is accepted
    (unless its event ended or its destination came under stress); refused, the part stays
    paused."""
    pm = st.pending.pop(msg.context.message_id, None)
    if pm is None:
        if not act.accepted:
            log.warning("grid refused update on %s: %s", order_of(msg).id, msg.error)
        return []
    a = st.events.get(pm.event_key)
    at = msg.context.timestamp
    if act.accepted:
        st.granted_kw[pm.transaction_id] = max(st.granted_kw.get(pm.transaction_id, 0.0),
                                               pm.new_load_kw)
    why = (pm.cancelled if pm.cancelled else None if act.accepted
           else f"grid refused more capacity at {pm.dest}: {msg.error}")
    starts: list[SiteCommandIssued] = []
    if a is not None and why is None:
        for n, (job, part, kw, s, e) in enumerate(pm.parts):
            s2, e2 = max(s, at), min(e, a.event.end)
            if e2 <= s2:
                continue
            starts.append(_cmd(f"capacity/{msg.context.message_id}", n, pm.dest,
                               CommandAction.START_JOB, kw, s2, e2, a.event.event_id,
                               f"stress {a.event.event_id}: the grid confirmed "
                               f"{pm.new_load_kw:g} kW at {pm.dest}; {job}/{part} ({kw:g} kW) "
                               f"starts there, back at {e2:%H:%M}", job, part))
    if a is None:
        return []
    moved = sum(c.power_kw for c in starts)
    waiting = sum(p[2] for p in pm.parts)
    a.awaiting_kw = max(0.0, a.awaiting_kw - waiting)
    a.shifted_kw += moved
    a.paused_kw += waiting - moved
    if moved and pm.dest not in a.shifted_to:
        a.shifted_to = (*a.shifted_to, pm.dest)
    if why is not None:
        log.warning("stress %s: %.1f kW stay paused at %s: %s", a.event.event_id, waiting,
                    a.event.site_id, why)
    _record(st, starts)
    a.command_ids += [c.command_id for c in starts]
    a.revision += 1
    return [*_send(starts, at), _response(a, at)]


def on_grid_update(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """A stress event (unsolicited on_update carrying ce:GridStressEvent) is answered once per
    event and site; the same event with an earlier end cuts its actions short; the grid's
    answer to our update (ce:FlexibilityAction) releases moves awaiting capacity."""
    msg: BecknMessage = m.value
    ev = order_of(msg).attributes
    if isinstance(ev, FlexibilityAction):
        return _answer(st, msg, ev)
    if not isinstance(ev, GridStressEvent):
        raise HandlerRejected("invalid_update", "on_update carries no GridStressEvent")
    return _stress(st, msg, ev)


HANDLERS = {
    "compflex.site.registered": on_site_registered,
    "compflex.placement.scheduled": on_placement_scheduled,
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
