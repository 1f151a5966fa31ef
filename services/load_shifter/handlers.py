"""Load-shifter handlers: answer a grid stress event with commands and Beckn updates."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.beckn.models import Action as BecknAction
from contracts.beckn.models import BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction, GridStressEvent, ShiftAction
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
from services.load_shifter.domain import Action, plan_response

log = logging.getLogger(__name__)
SOURCE = "load-shifter"


@dataclass
class ShifterState:
    """What runs where (the plan, updated by this service's own moves), confirmed orders,
    each battery's initial charge and the battery commands issued since."""

    sites: dict[str, SiteRegistered] = field(default_factory=dict)
    placements: dict[str, PlacementScheduled] = field(default_factory=dict)
    orders: dict[str, BecknMessage] = field(default_factory=dict)
    soc_kwh: dict[str, float] = field(default_factory=dict)
    battery_commands: dict[str, list[SiteCommandIssued]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)


def _key(p: PlacementScheduled) -> str:
    return f"{p.job_id}/{p.part_id}@{p.site_id}/{p.start.isoformat()}"


def soc_at(st: ShifterState, site_id: str, t: datetime) -> float:
    """The battery's charge at `t`: its initial charge, less discharges and plus charging
    (times round-trip efficiency, capped at capacity) commanded before `t`."""
    site = st.sites.get(site_id)
    if site is None or site.battery is None:
        return 0.0
    b = site.battery
    soc = st.soc_kwh.get(site_id, 0.0)
    for c in sorted(st.battery_commands.get(site_id, []), key=lambda c: (c.start, c.command_id)):
        hours = max(0.0, (min(c.end, t) - c.start).total_seconds() / 3600)
        if c.action == CommandAction.BATTERY_DISCHARGE:
            soc -= c.power_kw * hours
        elif c.action == CommandAction.BATTERY_CHARGE:
            soc = min(b.energy_kwh, soc + c.power_kw * hours * b.round_trip_efficiency)
    return max(0.0, soc)


def _apply_moves(st: ShifterState, commands: Sequence[SiteCommandIssued]) -> None:
    """Record the commanded moves and pauses in the plan, so a later event sees where each
    part runs now: the origin keeps the part outside the paused span, the destination gets
    it over the moved span under its own confirmed order."""
    starts = {(c.job_id, c.part_id): c for c in commands if c.action == CommandAction.START_JOB}
    for c in commands:
        if c.action != CommandAction.PAUSE_JOB:
            continue
        for key, p in list(st.placements.items()):
            if ((p.job_id, p.part_id, p.site_id) != (c.job_id, c.part_id, c.site_id)
                    or not (p.start < c.end and p.end > c.start)):
                continue
            del st.placements[key]
            for s, e in ((p.start, c.start), (c.end, p.end)):
                if s < e:
                    kept = p.model_copy(update={"start": s, "end": e})
                    st.placements[_key(kept)] = kept
            moved = starts.get((c.job_id, c.part_id))
            host = next((q for q in st.placements.values()
                         if moved is not None and q.site_id == moved.site_id), None)
            if moved is not None and host is not None:
                there = p.model_copy(update={
                    "site_id": moved.site_id, "zone": host.zone, "start": moved.start,
                    "end": moved.end, "order_id": host.order_id,
                    "transaction_id": host.transaction_id,
                    "order_capacity_kw": host.order_capacity_kw})
                st.placements[_key(there)] = there


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
    return []


def on_order_confirmed(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """Keep each confirmed order: updates are sent against it."""
    msg: BecknMessage = m.value
    if order_of(msg).status == OrderStatus.CONFIRMED:
        st.orders[msg.context.transaction_id] = msg
    return []


def _command(event_id: str, i: int, a: Action) -> SiteCommandIssued:
    return SiteCommandIssued(
        command_id=stable_id("command", event_id, a.site_id, i), site_id=a.site_id,
        action=a.action, power_kw=a.power_kw, start=a.start, end=a.end, job_id=a.job_id,
        part_id=a.part_id, event_id=event_id, reason=a.reason)


def _shift_action(a: Action) -> ShiftAction:
    return ShiftAction(action=a.action.value, site_id=a.site_id, power_kw=a.power_kw,
                       start=a.start, end=a.end, reason=a.reason)


def _update(st: ShifterState, txn: str, act: FlexibilityAction, cause: str,
            at: object) -> Out:
    held = st.orders[txn]
    c = held.context
    order = order_of(held).model_copy(update={"status": OrderStatus.INPROGRESS,
                                              "attributes": act})
    msg = request(Parties(c.bap_id, c.bap_uri, c.bpp_id, c.bpp_uri), BecknAction.UPDATE, txn,
                  cause, at, OrderMessage(order=order))  # type: ignore[arg-type]
    return Out(BECKN_UPDATES, txn, msg)


def on_grid_update(st: ShifterState, m: Inbound) -> Sequence[Out]:
    """A stress event (unsolicited on_update) gets commands, a response record and Beckn
    updates for the stressed and the receiving orders; an answer to our update is logged."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    ev = order.attributes
    if isinstance(ev, FlexibilityAction):
        if not ev.accepted:
            log.warning("grid refused update on %s: %s", order.id, msg.error)
        return []
    if not isinstance(ev, GridStressEvent):
        raise HandlerRejected("invalid_update", "on_update carries no GridStressEvent")
    sites = {i.attributes.site_id for i in order.items}
    if len(sites) != 1:
        raise HandlerRejected("invalid_order", f"order {order.id} spans sites {sorted(sites)}")
    site_id = sites.pop()
    key = f"{ev.event_id}/{site_id}"
    if key in st.answered:
        return []
    st.answered.add(key)
    site = st.sites.get(site_id)
    battery = site.battery if site else None
    resp = plan_response(site_id, ev.requested_reduction_kw, ev.start, ev.end,
                         sorted(st.placements.values(), key=lambda p: (p.job_id, p.part_id)),
                         battery, soc_at(st, site_id, ev.start), ev.event_id)
    at = ev.start
    outs: list[Out] = []
    commands = [_command(ev.event_id, i, a) for i, a in enumerate(resp.actions)]
    for c in commands:
        outs.append(Out(COMMANDS, c.site_id, envelope(c, id=c.command_id, time=at, source=SOURCE)))
        if c.action in (CommandAction.BATTERY_DISCHARGE, CommandAction.BATTERY_CHARGE):
            st.battery_commands.setdefault(c.site_id, []).append(c)
    _apply_moves(st, commands)
    done = ResponseDispatched(
        event_id=ev.event_id, site_id=site_id, requested_kw=resp.requested_kw,
        shifted_kw=resp.shifted_kw, shifted_to=resp.shifted_to, battery_kw=resp.battery_kw,
        shortfall_kw=resp.shortfall_kw, command_ids=tuple(c.command_id for c in commands),
        start=ev.start, end=ev.end)
    outs.append(Out(RESPONSES, site_id, envelope(done, id=stable_id("response", key), time=at,
                                                 source=SOURCE)))
    if resp.shortfall_kw > 0:
        log.warning("stress %s at %s: %.1f kW short of the %.1f kW requested", ev.event_id,
                    site_id, resp.shortfall_kw, resp.requested_kw)
    mine = [_shift_action(a) for a in resp.actions if a.site_id == site_id]
    outs.append(_update(st, msg.context.transaction_id, FlexibilityAction(
        event_id=ev.event_id, role="stressed_site",
        reduction_kw=resp.shifted_kw + resp.paused_kw + resp.battery_kw,
        shifted_kw=resp.shifted_kw, battery_kw=resp.battery_kw,
        new_compute_load_kw=max(0.0, max(i.attributes.compute_load_kw for i in order.items)
                                - resp.shifted_kw - resp.paused_kw),
        actions=tuple(mine)), key, at))
    for dest, load in sorted(resp.receiving_load_kw.items()):
        txn = next((p.transaction_id for p in st.placements.values() if p.site_id == dest), None)
        if txn is None or txn not in st.orders:
            continue
        theirs = [_shift_action(a) for a in resp.actions if a.site_id == dest]
        outs.append(_update(st, txn, FlexibilityAction(
            event_id=ev.event_id, role="receiving_site", reduction_kw=0.0,
            shifted_kw=sum(a.power_kw for a in theirs), battery_kw=0.0,
            new_compute_load_kw=load, actions=tuple(theirs)), f"{key}/{dest}", at))
    return outs


HANDLERS = {
    "compflex.site.registered": on_site_registered,
    "compflex.placement.scheduled": on_placement_scheduled,
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
