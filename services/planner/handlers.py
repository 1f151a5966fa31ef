"""CompFlex planner (the BAP) handlers: discover, plan, order (select/init/confirm), schedule."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from contracts.beckn.models import (
    Action,
    BecknMessage,
    Buyer,
    DiscoverFilters,
    DiscoverMessage,
    OnDiscoverMessage,
    Order,
    OrderItem,
    OrderMessage,
    OrderStatus,
    Quantity,
)
from contracts.compute_energy.vocab import ComputeEnergyWindow, GridStressEvent, OrderLine
from contracts.events import (
    ClockAdvanced,
    CommandAction,
    JobSubmitted,
    PlacementScheduled,
    SiteCommandIssued,
    SiteRegistered,
)
from contracts.topics import BECKN_ORDERS, PLACEMENTS
from services.common.beckn import Parties, order_of, request
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Inbound, Out
from services.planner.domain import OfferedWindow, Placement, plan_placements
from services.planner.optimiser.fast import solve_fast
from services.planner.optimiser.milp import solve_exact
from services.planner.placement import (
    Command,
    Line,
    Replanned,
    Run,
    build_problem,
    current_plan,
    lines_of,
    part_key,
    replan_rest,
    runs_of,
    with_stress,
)

log = logging.getLogger(__name__)
SOURCE = "planner"
STEP = timedelta(minutes=30)
WINDOW_FILTER = "$[?(@['beckn:itemAttributes']['@type'] == 'ce:ComputeEnergyWindow')]"


@dataclass
class PlannerState:
    parties: Parties
    buyer_id: str
    buyer_name: str
    carbon_price_gbp_per_t: float
    sites: dict[str, SiteRegistered] = field(default_factory=dict)
    jobs: dict[str, JobSubmitted] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    discovering: str | None = None
    mode: str = "rule"
    migration_h: float = 0.5
    exact_up_to_parts: int = 60
    orders: dict[str, tuple[Run, ...]] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # orders refused or not confirmed
    seller: str = ""
    windows: dict[str, OfferedWindow] = field(default_factory=dict)  # discovered, by item id
    stress: dict[str, GridStressEvent] = field(default_factory=dict)  # by event id
    commands: dict[str, Command] = field(default_factory=dict)  # load-shifter moves, by id
    replan_due: bool = False
    replans: list[tuple[datetime, Replanned]] = field(default_factory=list)


def _send(msg: BecknMessage) -> Out:
    return Out(BECKN_ORDERS, msg.context.transaction_id, msg)


def on_site_registered(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Remember a site CompFlex may use."""
    site = m.value.payload
    st.sites[site.site_id] = site
    return []


def on_job_submitted(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Queue a batch for the next discovery."""
    job = m.value.payload
    st.jobs[job.job_id] = job
    return []


def on_clock_advanced(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Discover windows when batches are waiting and no discovery is in flight."""
    tick = m.value.payload
    assert isinstance(tick, ClockAdvanced)
    outs: list[Out] = []
    if st.replan_due:
        outs += _replan(st, tick.now)
    waiting = [j for j in st.jobs if j not in st.in_flight]
    if not waiting or st.discovering is not None:
        return outs
    txn = stable_id("discover", tick.now.isoformat())
    st.discovering = txn
    msg = request(st.parties, Action.DISCOVER, txn, tick.now.isoformat(), tick.now,
                  DiscoverMessage(text_search="compute energy flexibility windows",
                                  filters=DiscoverFilters(expression=WINDOW_FILTER)))
    return [*outs, _send(msg)]


def _windows(msg: OnDiscoverMessage) -> tuple[str, list[OfferedWindow]]:
    out, seller = [], ""
    for cat in msg.catalogs:
        seller = cat.provider_id
        for item in cat.items:
            a = item.item_attributes
            if isinstance(a, ComputeEnergyWindow):
                out.append(OfferedWindow(item.id, a.grid_zone, a.start, a.end,
                                         a.price_gbp_per_kwh, a.carbon_intensity_g_per_kwh,
                                         a.capacity_kw))
    return seller, out


def _order(st: PlannerState, seller: str, site_id: str, placements: Sequence[Placement]) -> Order:
    site = st.sites[site_id]
    items = []
    for p in placements:
        gpus = sum(part.gpus for part in p.job.parts)
        for seg in p.segments:
            items.append(OrderItem(
                line_id=f"{p.job.job_id}@{seg.window.item_id}",
                ordered_item=seg.window.item_id,
                quantity=Quantity(unit_quantity=p.job.power_kw),
                attributes=OrderLine(
                    site_id=site_id, grid_zone=site.zone, slot_start=seg.start, slot_end=seg.end,
                    compute_load_kw=p.job.power_kw,
                    capacity_kw=min(site.it_capacity_kw, seg.window.capacity_kw),
                    gpu_hours=round(gpus * seg.hours, 3),
                    energy_kwh=round(p.job.power_kw * seg.hours, 3),
                    carbon_target_g_per_kwh=p.job.carbon_target_g_per_kwh,
                    job_ids=(p.job.job_id,))))
    day = placements[0].start.strftime("%Y%m%d")
    return Order(id=_order_id(st, site_id, day), status=OrderStatus.CREATED, seller=seller,
                 buyer=Buyer(id=st.buyer_id, display_name=st.buyer_name), items=tuple(items))


def _order_id(st: PlannerState, site_id: str, day: str) -> str:
    earlier = sum(1 for rs in st.orders.values() if rs and rs[0].site_id == site_id)
    return f"order-{site_id}-{day}" + (f"-{earlier + 1}" if earlier else "")


def _order_from_lines(st: PlannerState, seller: str, site_id: str,
                      lines: Sequence[Line]) -> Order:
    site = st.sites[site_id]
    items = []
    for ln in lines:
        hours = (ln.end - ln.start).total_seconds() / 3600
        items.append(OrderItem(
            line_id=f"{ln.window.item_id}@{ln.start:%H%M}",
            ordered_item=ln.window.item_id,
            quantity=Quantity(unit_quantity=ln.load_kw),
            attributes=OrderLine(
                site_id=site_id, grid_zone=site.zone, slot_start=ln.start, slot_end=ln.end,
                compute_load_kw=ln.load_kw,
                capacity_kw=min(site.it_capacity_kw, ln.window.capacity_kw),
                gpu_hours=ln.gpu_hours, energy_kwh=round(ln.load_kw * hours, 3),
                carbon_target_g_per_kwh=min(st.jobs[j].carbon_target_g_per_kwh
                                            for j in ln.job_ids),
                job_ids=ln.job_ids)))
    day = lines[0].start.strftime("%Y%m%d")
    return Order(id=_order_id(st, site_id, day), status=OrderStatus.CREATED, seller=seller,
                 buyer=Buyer(id=st.buyer_id, display_name=st.buyer_name), items=tuple(items))


def _optimal_orders(st: PlannerState, seller: str, waiting: Sequence[JobSubmitted],
                    windows: Sequence[OfferedWindow], at: datetime
                    ) -> list[tuple[Order, tuple[Run, ...]]]:
    """Solve the placement exactly (HiGHS MILP; the fast solver past `exact_up_to_parts`)
    and turn the schedule into one order per site."""
    sites = sorted(st.sites.values(), key=lambda s: s.site_id)
    problem, slots = build_problem(waiting, sites, windows, at, timedelta(minutes=30),
                                   st.carbon_price_gbp_per_t, st.migration_h)
    solve = solve_exact if len(problem.jobs) <= st.exact_up_to_parts else solve_fast
    schedule = solve(problem)
    for key, kwh in sorted(schedule.unmet_kwh.items()):
        if kwh > 1e-6:
            job_id = key.split("/", 1)[0]
            log.warning("batch %s cannot be fully placed: %.1f kWh of %s unmet", job_id, kwh, key)
            st.refused[job_id] = f"{kwh:.1f} kWh of {key} cannot run by its deadline"
    runs = runs_of(schedule, slots)
    zone_of = {s.site_id: s.zone for s in sites}
    gpus_per_kw = {part_key(j.job_id, p.part_id): p.gpus / p.power_kw
                   for j in waiting for p in j.parts}
    lines = lines_of(runs, windows, zone_of, gpus_per_kw)
    out = []
    for site_id in sorted({r.site_id for r in runs}):
        mine = [ln for ln in lines if ln.site_id == site_id]
        if mine:
            out.append((_order_from_lines(st, seller, site_id, mine),
                        tuple(r for r in runs if r.site_id == site_id)))
    return out


def _rule_orders(st: PlannerState, seller: str, waiting: Sequence[JobSubmitted],
                 windows: Sequence[OfferedWindow]) -> list[tuple[Order, tuple[Run, ...]]]:
    plan = plan_placements(waiting, list(st.sites.values()), windows, st.carbon_price_gbp_per_t)
    for job_id, why in plan.unplaced:
        log.warning("batch %s not placed: %s", job_id, why)
        st.refused[job_id] = why
    by_site: dict[str, list[Placement]] = {}
    for p in plan.placements:
        by_site.setdefault(p.site.site_id, []).append(p)
    out = []
    for site_id, placements in sorted(by_site.items()):
        runs = tuple(Run(p.job.job_id, part.part_id, site_id, p.start, p.end, part.power_kw)
                     for p in placements for part in p.job.parts)
        out.append((_order(st, seller, site_id, placements), runs))
    return out


def on_discover_results(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Plan the waiting batches on the discovered windows; select one order per site."""
    msg: BecknMessage = m.value
    if msg.context.transaction_id != st.discovering:
        raise HandlerRejected("unexpected_callback", "on_discover for no discovery in flight")
    st.discovering = None
    assert isinstance(msg.message, OnDiscoverMessage)
    seller, windows = _windows(msg.message)
    st.seller = seller or st.seller
    st.windows.update((w.item_id, w) for w in windows)
    waiting = [j for k, j in sorted(st.jobs.items()) if k not in st.in_flight]
    at = msg.context.timestamp
    if st.mode == "optimal":
        orders = _optimal_orders(st, seller, waiting, windows, at)
    else:
        orders = _rule_orders(st, seller, waiting, windows)
    return _select(st, orders, at)


def _select(st: PlannerState, orders: Sequence[tuple[Order, tuple[Run, ...]]],
            at: datetime) -> list[Out]:
    outs = []
    for order, runs in orders:
        txn = stable_id("order", order.id)
        st.orders[txn] = runs
        st.in_flight.update(r.job_id for r in runs)
        outs.append(_send(request(st.parties, Action.SELECT, txn, order.id or "", at,
                                  OrderMessage(order=order))))
    return outs


def _replan(st: PlannerState, now: datetime) -> list[Out]:
    """Re-optimise the rest of the horizon from the plan's state at ``now`` (work done, where
    each part runs after the load-shifter's moves), on the discovered windows with every stress
    event's signal in force, keeping every commitment that is still possible; order only the
    work to add (rest of the horizon), one new order per site."""
    st.replan_due = False
    runs = [r for txn, rs in sorted(st.orders.items()) if txn not in st.dead for r in rs]
    if not runs or not st.windows:
        return []
    ordered = {part_key(r.job_id, r.part_id) for r in runs}
    jobs = [st.jobs[j] for j in sorted({r.job_id for r in runs}) if j in st.jobs]
    sites = sorted(st.sites.values(), key=lambda s: s.site_id)
    windows = sorted(st.windows.values(), key=lambda w: (w.start, w.item_id))
    problem, slots = build_problem(jobs, sites, windows, min(min(r.start for r in runs), now),
                                   STEP, st.carbon_price_gbp_per_t, st.migration_h)
    grid = problem.grid
    for ev in sorted(st.stress.values(), key=lambda e: (e.start, e.event_id)):
        grid = with_stress(grid, slots, ev.grid_zone, ev.start, ev.end,
                           ev.carbon_intensity_g_per_kwh, ev.price_delta_gbp_per_kwh)
    problem = replace(problem, grid=grid,
                      jobs=tuple(j for j in problem.jobs if j.job_id in ordered))
    from_slot = slots.index(now, up=True)
    if from_slot >= slots.count:
        return []
    spans = current_plan(runs, list(st.commands.values()))
    solve = solve_exact if len(problem.jobs) <= st.exact_up_to_parts else solve_fast
    result = replan_rest(problem, slots, spans, from_slot, solve)
    st.replans.append((now, result))
    log.info("re-planned from %s: %d commitments kept, %d dropped, %d new runs (%s)",
             slots.at(from_slot).isoformat(), result.kept, len(result.dropped),
             len(result.runs), result.status)
    for key, kwh in sorted(result.unmet_kwh.items()):
        log.warning("re-plan: %.1f kWh of %s cannot run by its deadline", kwh, key)
    if not result.runs:
        return []
    zone_of = {s.site_id: s.zone for s in sites}
    gpus_per_kw = {part_key(j.job_id, p.part_id): p.gpus / p.power_kw
                   for j in jobs for p in j.parts}
    lines = lines_of(result.runs, windows, zone_of, gpus_per_kw)
    orders = []
    for site_id in sorted({r.site_id for r in result.runs}):
        mine = [ln for ln in lines if ln.site_id == site_id]
        if mine:
            orders.append((_order_from_lines(st, st.seller, site_id, mine),
                           tuple(r for r in result.runs if r.site_id == site_id)))
    return _select(st, orders, now)


def _next(st: PlannerState, m: Inbound, action: Action) -> Sequence[Out]:
    msg: BecknMessage = m.value
    txn = msg.context.transaction_id
    if txn not in st.orders:
        raise HandlerRejected("unknown_transaction", f"{txn} is not one of our orders")
    order = order_of(msg)
    if msg.error is not None or order.status == OrderStatus.REJECTED:
        reason = msg.error.message if msg.error else "rejected"
        log.warning("order %s refused at %s: %s", order.id, msg.context.action.value, reason)
        st.dead.add(txn)
        for r in st.orders[txn]:
            st.refused[r.job_id] = reason
        return []
    return [_send(request(st.parties, action, txn, order.id, msg.context.timestamp,
                          OrderMessage(order=order.model_copy(
                              update={"status": OrderStatus.CREATED})))) ]


def on_select_quote(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """A priced quote came back: initialise the order."""
    return _next(st, m, Action.INIT)


def on_init_terms(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Terms are set: confirm the order."""
    return _next(st, m, Action.CONFIRM)


def on_order_confirmed(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """The grid confirmed capacity: schedule every part of the order's batches at the site."""
    msg: BecknMessage = m.value
    txn = msg.context.transaction_id
    if txn not in st.orders:
        raise HandlerRejected("unknown_transaction", f"{txn} is not one of our orders")
    order = order_of(msg)
    if msg.error is not None or order.status != OrderStatus.CONFIRMED:
        log.warning("order %s not confirmed", order.id)
        st.dead.add(txn)
        return []
    st.confirmed.add(txn)
    outs = []
    for r in st.orders[txn]:
        caps = [i.attributes.confirmed_capacity_kw or 0.0 for i in order.items
                if r.job_id in i.attributes.job_ids
                and i.attributes.slot_start < r.end and i.attributes.slot_end > r.start]
        part = next(p for p in st.jobs[r.job_id].parts if p.part_id == r.part_id)
        ev = PlacementScheduled(
            job_id=r.job_id, part_id=r.part_id, site_id=r.site_id,
            zone=st.sites[r.site_id].zone, start=r.start, end=r.end, power_kw=r.power_kw,
            critical=part.critical, migratable=part.migratable, order_id=order.id or "",
            transaction_id=txn, order_capacity_kw=min(caps))
        eid = stable_id("placement", txn, r.job_id, r.part_id, r.start.isoformat())
        outs.append(Out(PLACEMENTS, r.site_id,
                        envelope(ev, id=eid, time=msg.context.timestamp, source=SOURCE)))
    return outs


def on_grid_update(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """A stress event (unsolicited on_update) is the zone's new signal over its span: the
    load-shifter answers it at once; the planner re-plans the rest of the horizon at the next
    clock tick, once the load-shifter's moves are known. Answers to the load-shifter's own
    updates are its business."""
    ev = order_of(m.value).attributes
    if not isinstance(ev, GridStressEvent):
        return []
    known = st.stress.get(ev.event_id)
    if known is None or ev.end < known.end:  # new, or the same event ended early
        st.stress[ev.event_id] = ev
        st.replan_due = True
    return []


def on_site_command(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Remember the load-shifter's pauses and moves: they change where work runs, and so the
    state the next re-plan starts from (battery commands are its own business). A command that
    ``replaces`` another supersedes it (an event ended early cuts its pauses and moves short;
    an empty span cancels)."""
    c = m.value.payload
    assert isinstance(c, SiteCommandIssued)
    if c.replaces is not None and st.commands.pop(c.replaces, None) is not None:
        st.replan_due = True
    moves = (CommandAction.PAUSE_JOB, CommandAction.START_JOB)
    if c.action in moves and c.job_id and c.part_id and c.end > c.start:
        st.commands[c.command_id] = Command(c.action.value, c.job_id, c.part_id, c.site_id,
                                            c.start, c.end, c.power_kw)
        st.replan_due = True
    return []


def on_order_completed(st: PlannerState, m: Inbound) -> Sequence[Out]:
    """Settlement closed the transaction."""
    st.completed.add(m.value.context.transaction_id)
    return []


HANDLERS = {
    "compflex.site.registered": on_site_registered,
    "compflex.job.submitted": on_job_submitted,
    "sim.clock.advanced": on_clock_advanced,
    "beckn.on_discover": on_discover_results,
    "beckn.on_select": on_select_quote,
    "beckn.on_init": on_init_terms,
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "site.command.issued": on_site_command,
    "beckn.on_status": on_order_completed,
}
