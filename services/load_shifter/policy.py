"""The load-shifter's policy: the least-cost set of actions that meets one stress event (pure).

Inputs are plain typed values (the event and each site's live state); the output is a
`Decision` whose every step carries its reason. No I/O, no clock: docs/fulfilment.md explains
the rules and the cost model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

EPS = 1e-6


@dataclass(frozen=True)
class Costs:
    """What one kWh of relief costs the operator, by kind of action (£/kWh)."""

    migrate_gbp_per_kwh: float = 0.01
    """Checkpoint, transfer and warm-up of a part moved to a site with headroom."""
    capacity_request_gbp_per_kwh: float = 0.02
    """Extra for a move that needs the grid to confirm more capacity first (it may refuse and
    the part then stays paused)."""
    battery_gbp_per_kwh: float = 0.06
    """Cycle wear plus the round-trip losses bought back at recharge."""
    pause_gbp_per_kwh: float = 0.25
    """Training work deferred (and possibly lost to its deadline)."""


@dataclass(frozen=True)
class StressEvent:
    event_id: str
    site_id: str
    start: datetime
    end: datetime
    requested_kw: float
    price_delta_gbp_per_kwh: float = 0.0
    """Used when no reduction is requested: then every action cheaper per kWh than this
    price rise is taken (an economic response to a price signal)."""

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class RunningJob:
    """A part running at the site during the event (a scheduled one or one moved in)."""

    job_id: str
    part_id: str
    power_kw: float
    critical: bool
    migratable: bool
    end: datetime
    """When the part stops running here (its own end, or the end of its stay if moved in)."""
    off_until: datetime | None = None
    """Already paused or moved away at the event's start by an earlier action, until then."""
    moved_from: str | None = None

    @property
    def interruptible(self) -> bool:
        return not self.critical


@dataclass(frozen=True)
class BatteryState:
    power_kw: float
    """Discharge power still free over the event (rating less discharges already commanded)."""
    usable_kwh: float
    """Energy above the reserve not yet promised to earlier discharges."""


@dataclass(frozen=True)
class SiteState:
    site_id: str
    zone: str
    jobs: tuple[RunningJob, ...] = ()
    draw_kw: float = 0.0
    """Peak facility load over the event's span, as scheduled and commanded so far."""
    confirmed_kw: float | None = None
    """Capacity the grid confirmed for the site's active order(s) over the span; None: no
    order covers the span, so no work can be moved there."""
    battery: BatteryState | None = None
    stressed: bool = False
    """Under a stress event of its own over the span: never a destination."""

    @property
    def headroom_kw(self) -> float:
        if self.confirmed_kw is None:
            return 0.0
        return max(0.0, self.confirmed_kw - self.draw_kw)


class StepKind(StrEnum):
    MIGRATE = "migrate"
    MIGRATE_AFTER_CAPACITY = "migrate_after_capacity"
    PAUSE = "pause"
    BATTERY = "battery"
    ALREADY_OFF = "already_off"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    site_id: str
    power_kw: float
    start: datetime
    end: datetime
    cost_gbp: float
    reason: str
    job_id: str | None = None
    part_id: str | None = None
    to_site: str | None = None


@dataclass(frozen=True)
class Decision:
    event: StressEvent
    steps: tuple[Step, ...]
    target_kw: float
    relief_kw: float
    shortfall_kw: float
    cost_gbp: float
    capacity_requests: Mapping[str, float] = field(default_factory=dict)
    """Per receiving site, the capacity above its confirmed order the grid must grant first."""
    solver: str = "greedy"
    """Which path chose the steps: "exact" (a MILP proved them least-cost), "greedy (exact
    agrees)", "greedy (too large for the exact solve)", "greedy (exact solve gave up)",
    "greedy (economic)" — see docs/fulfilment.md."""

    def kw(self, *kinds: StepKind) -> float:
        return sum(s.power_kw for s in self.steps if s.kind in kinds)

    @property
    def shifted_kw(self) -> float:
        return self.kw(StepKind.MIGRATE)

    @property
    def awaiting_kw(self) -> float:
        return self.kw(StepKind.MIGRATE_AFTER_CAPACITY)

    @property
    def paused_kw(self) -> float:
        return self.kw(StepKind.PAUSE)

    @property
    def battery_kw(self) -> float:
        return self.kw(StepKind.BATTERY)

    @property
    def already_kw(self) -> float:
        return self.kw(StepKind.ALREADY_OFF)


@dataclass
class _Option:
    kind: StepKind
    unit_gbp: float
    dest: str | None = None


@dataclass(frozen=True)
class _Choice:
    cand: _Candidate
    opt: _Option
    ask_kw: float
    room_kw: float
    cost: float = 0.0

    @classmethod
    def of(cls, cand: _Candidate, opt: _Option, ask_kw: float, room_kw: float) -> _Choice:
        return cls(cand, opt, ask_kw, room_kw, opt.unit_gbp * cand.job.power_kw * cand.hours)


@dataclass
class _Candidate:
    job: RunningJob
    start: datetime
    end: datetime
    hours: float


def _fmt(kw: float) -> str:
    return f"{kw:.6g}"


IMPROVE_TRIES = 4
"""How many set-aside parts (cheapest first) are tried against the greedy's answer."""


def _score(chosen: list[_Choice], already: float, target: float, batt: float, costs: Costs,
           hours: float) -> tuple[float, float]:
    """(shortfall, cost): less shortfall first, then less cost."""
    relief = already + sum(x.cand.job.power_kw for x in chosen) + batt
    short = max(0.0, target - relief)
    cost = sum(x.cost for x in chosen) + costs.battery_gbp_per_kwh * batt * hours
    return (round(short, 6), round(cost, 9))


def _settle(chosen: list[_Choice], already: float, target: float, batt_max: float,
            batt_used: float, costs: Costs, hours: float) -> tuple[list[_Choice], float]:
    """Trim: drop the costliest chosen parts the others and the battery (at a lower cost) can
    do without, then size the battery to exactly what is left."""
    discrete = already + sum(x.cand.job.power_kw for x in chosen)
    batt = min(batt_max, max(0.0, target - discrete))
    dropped: set[int] = set()
    for k in sorted(range(len(chosen)), key=lambda k: -chosen[k].cost):
        item = chosen[k]
        p = item.cand.job.power_kw
        batt_then = max(0.0, target - (discrete - p))
        if batt_then > batt_max + EPS:
            continue
        if costs.battery_gbp_per_kwh * max(0.0, batt_then - batt) * hours < item.cost:
            dropped.add(k)
            discrete -= p
            batt = max(batt, batt_then)
    kept = [x for k, x in enumerate(chosen) if k not in dropped]
    return kept, min(batt_max, max(0.0, target - discrete))


EXACT_MAX_COLS = 400
"""Above this many 0/1 choices (part x option) the exact solve is not tried: the greedy stands."""
EXACT_NODE_LIMIT = 2000
"""Branch-and-bound nodes before the exact solve gives up (a count, not a wall-clock limit, so a
replay decides the same whatever the machine's speed)."""


def _exact(cands: list[_Candidate], opts: list[list[_Option]], need: float, batt_max: float,
           batt_unit: float, headroom: Mapping[str, float], bound: float | None
           ) -> tuple[list[tuple[_Candidate, _Option]], float] | str:
    """The least-cost cover of `need` kW by at most one option per part plus the battery, with
    each destination's moves within its headroom: a MILP solved by HiGHS. Returns the choices
    and the battery kW, or why there is no proved answer. Options costing more than `bound`
    alone are left out (every cost is >= 0, so none is in an answer cheaper than `bound`)."""
    cols: list[tuple[int, _Option, float]] = []
    for i, (c, os_) in enumerate(zip(cands, opts, strict=True)):
        for o in os_:
            cost = o.unit_gbp * c.job.power_kw * c.hours
            if bound is None or cost <= bound + EPS:
                cols.append((i, o, cost))
    n = len(cols)
    if n > EXACT_MAX_COLS:
        return "too large for the exact solve"
    dests = sorted({o.dest for _, o, _ in cols if o.kind == StepKind.MIGRATE and o.dest})
    parts = sorted({i for i, _, _ in cols})
    prow = {i: k for k, i in enumerate(parts)}
    drow = {d: k for k, d in enumerate(dests)}
    r_parts, r_dest = 1, 1 + len(parts)
    rr, cc, vv = [], [], []
    for k, (i, o, _) in enumerate(cols):
        p = cands[i].job.power_kw
        rr += [0, r_parts + prow[i]]
        cc += [k, k]
        vv += [p, 1.0]
        if o.kind == StepKind.MIGRATE and o.dest:
            rr.append(r_dest + drow[o.dest])
            cc.append(k)
            vv.append(p)
    rr.append(0)
    cc.append(n)
    vv.append(1.0)  # the battery, kW
    a = csr_array((vv, (rr, cc)), shape=(1 + len(parts) + len(dests), n + 1))
    lo = [need - EPS] + [0.0] * len(parts) + [0.0] * len(dests)
    hi = [np.inf] + [1.0] * len(parts) + [headroom[d] + EPS for d in dests]
    cost = np.array([x[2] for x in cols] + [batt_unit])
    res = milp(cost, constraints=LinearConstraint(a, lo, hi),
               integrality=np.array([1] * n + [0]),
               bounds=Bounds([0.0] * (n + 1), [1.0] * n + [batt_max]),
               options={"node_limit": EXACT_NODE_LIMIT, "mip_rel_gap": 1e-9})
    if res.status != 0 or res.x is None:
        return ("exact solve gave up" if res.status == 1
                else f"exact solve failed: {res.message}")
    x = res.x
    chosen = [(cands[i], o) for k, (i, o, _) in enumerate(cols) if x[k] > 0.5]
    return chosen, max(0.0, min(batt_max, float(x[n])))


LB_STEPS = 16
"""Prices of destination headroom tried by `_lower_bound` (any price gives a valid bound)."""


def _lower_bound(kw: np.ndarray, mig: np.ndarray, alt: np.ndarray, need: float,
                 pool: float) -> float:
    """A lower bound on the least cost of covering `need` kW with parts of `kw` kW, each either
    moved into headroom at `mig` £/kW or relieved another way at `alt` £/kW (inf: no such
    option): the Lagrangian relaxation of the headroom left at all destinations together
    (`pool` kW), priced at mu £/kW, with parts taken fractionally (cheapest £/kW first), minus
    mu x pool; the best over a grid of mu. Every mu >= 0 bounds the least cost from below, so
    the grid costs only tightness, never validity."""
    finite = np.isfinite(mig) & np.isfinite(alt)
    top = float(np.max(alt[finite] - mig[finite])) if finite.any() else 0.0
    best = 0.0
    for mu in np.linspace(0.0, max(0.0, top), LB_STEPS + 1):
        rate = np.minimum(mig + mu, alt)
        order = np.argsort(rate, kind="stable")
        cum = np.cumsum(kw[order])
        k = int(np.searchsorted(cum, need - EPS))
        if k >= len(cum):
            return 0.0
        r = rate[order]
        full = float(np.dot(r[:k], kw[order][:k])) if k else 0.0
        part = need - (float(cum[k - 1]) if k else 0.0)
        best = max(best, full + part * float(r[k]) - mu * pool)
    return best


def _try_exact(chosen: list[_Choice], batt_used: float, asked: dict[str, float],
               ranked: list[_Candidate], dests: list[SiteState], ask_to: SiteState | None,
               can_ask: bool, need: float, batt_max: float, costs: Costs, hours: float
               ) -> tuple[str, list[_Choice], float, dict[str, float]]:
    """Check the greedy's answer against the exact least cost (`_exact`) and take the exact
    one when it is cheaper (or leaves less shortfall); when the problem is too large for that,
    bound the greedy's distance from the least cost instead (`_lower_bound`). Returns the path
    taken (with the bound) and the answer."""
    batt_unit = costs.battery_gbp_per_kwh * hours
    g_relief = sum(x.cand.job.power_kw for x in chosen) + batt_used
    g_cost = sum(x.cost for x in chosen) + batt_unit * batt_used
    kw = np.array([c.job.power_kw for c in ranked])
    max_relief = float(kw.sum()) + batt_max
    cover = min(need, max_relief)
    g_short = max(0.0, need - g_relief)
    forced_short = max(0.0, need - max_relief)
    if cover <= EPS:
        return "greedy (exact agrees)", chosen, batt_used, asked
    headroom = {d.site_id: d.headroom_kw for d in dests}
    after = costs.migrate_gbp_per_kwh + costs.capacity_request_gbp_per_kwh
    movable = np.array([c.job.migratable for c in ranked], dtype=bool) & bool(headroom)
    mig_kw = float(kw[movable].sum())
    # A destination that could take every movable part makes the others unnecessary.
    roomy = [d for d in sorted(headroom) if headroom[d] + EPS >= mig_kw]
    dest_ids = roomy[:1] or sorted(headroom)
    heads = np.sort(np.array([headroom[d] for d in dest_ids]))
    fits = len(heads) - np.searchsorted(heads, kw - EPS, side="left")
    fits[~movable] = 0
    ask = can_ask and ask_to is not None
    pause = ~movable | (not ask) | (after >= costs.pause_gbp_per_kwh)
    n_cols = int(fits.sum()) + (int(movable.sum()) if ask else 0) + int(pause.sum())
    bound = g_cost if g_short <= forced_short + EPS else None
    if n_cols > EXACT_MAX_COLS:
        why = "too large for the exact solve"
        if bound is not None and g_cost > EPS:
            h = np.array([c.hours for c in ranked])
            mig = np.where(fits > 0, costs.migrate_gbp_per_kwh * h, np.inf)
            alt = np.where(pause, costs.pause_gbp_per_kwh * h, np.inf)
            if ask:
                alt = np.where(movable, np.minimum(alt, after * h), alt)
            lb = _lower_bound(np.append(kw, batt_max), np.append(mig, np.inf),
                              np.append(alt, batt_unit), cover, float(heads.sum()))
            if lb > EPS:
                why += f"; proved within {100 * max(0.0, g_cost - lb) / lb:.2f} % of the least cost"
        return f"greedy ({why})", chosen, batt_used, asked
    opts: list[list[_Option]] = []
    for k, c in enumerate(ranked):
        o: list[_Option] = []
        if movable[k]:
            o += [_Option(StepKind.MIGRATE, costs.migrate_gbp_per_kwh, d) for d in dest_ids
                  if headroom[d] + EPS >= c.job.power_kw]
            if ask and ask_to is not None:
                o.append(_Option(StepKind.MIGRATE_AFTER_CAPACITY, after, ask_to.site_id))
        if pause[k]:
            o.append(_Option(StepKind.PAUSE, costs.pause_gbp_per_kwh))
        opts.append(o)
    out = _exact(ranked, opts, cover, batt_max, batt_unit, headroom, bound)
    if isinstance(out, str):
        return f"greedy ({out})", chosen, batt_used, asked
    picks, _ = out
    discrete = sum(c.job.power_kw for c, _ in picks)
    e_batt = min(batt_max, max(0.0, need - discrete))
    e_cost = sum(o.unit_gbp * c.job.power_kw * c.hours for c, o in picks) + batt_unit * e_batt
    e_short = max(0.0, need - discrete - e_batt)
    if e_short < g_short - EPS or (e_short <= g_short + EPS
                                   and e_cost < g_cost - 1e-9 * max(1.0, g_cost)):
        room = dict(headroom)
        new: list[_Choice] = []
        new_asked: dict[str, float] = {}
        for c, o in sorted(picks, key=lambda x: x[1].kind != StepKind.MIGRATE):
            before = room.get(o.dest or "", 0.0)
            ask = 0.0
            if o.kind == StepKind.MIGRATE and o.dest is not None:
                room[o.dest] -= c.job.power_kw
            elif o.kind == StepKind.MIGRATE_AFTER_CAPACITY and o.dest is not None:
                ask = c.job.power_kw - max(0.0, before)
                new_asked[o.dest] = new_asked.get(o.dest, 0.0) + ask
                room[o.dest] -= c.job.power_kw - ask
            new.append(_Choice.of(c, o, ask, before))
        order = {id(c): k for k, c in enumerate(ranked)}
        new.sort(key=lambda x: order[id(x.cand)])
        return "exact", new, e_batt, new_asked
    return "greedy (exact agrees)", chosen, batt_used, asked


def decide(event: StressEvent, sites: Mapping[str, SiteState],
           costs: Costs = Costs()) -> Decision:
    """The cheapest actions found that relieve the stressed site by the requested kW over the
    event, or all that can be done and the shortfall.

    Rules: critical parts are never touched; a part is moved only to a site in another zone,
    not under stress itself, whose active order covers the span — within its headroom
    (confirmed capacity − committed load), or else after the grid confirms more capacity (the
    part is checkpointed and paused meanwhile); the battery gives at most its free power and,
    over the event, its energy above the reserve; moved and paused work returns at the event's
    end (or the part's own end if sooner).
    """
    here = sites[event.site_id]
    s, e = event.start, event.end
    ev = event.event_id
    steps: list[Step] = []
    candidates: list[_Candidate] = []
    for j in here.jobs:
        if j.critical or j.end <= s:
            continue
        if j.off_until is not None and j.off_until >= min(e, j.end):
            steps.append(Step(StepKind.ALREADY_OFF, here.site_id, j.power_kw, s, s, 0.0,
                              f"stress {ev}: {j.job_id}/{j.part_id} ({_fmt(j.power_kw)} kW) is "
                              f"already off at {here.site_id} through the event",
                              j.job_id, j.part_id))
            continue
        if j.off_until is not None and j.off_until > s:
            # Paused or moved away by an earlier event until `off_until`: extend that.
            a = j.off_until
        else:
            a = s
        b = min(e, j.end)
        candidates.append(_Candidate(j, a, b, (b - a).total_seconds() / 3600))

    already = sum(st.power_kw for st in steps)
    economic = event.requested_kw <= EPS
    target = (sum(c.job.power_kw for c in candidates) + already if economic
              else event.requested_kw)
    benefit = event.price_delta_gbp_per_kwh
    need = target - already

    dests = sorted((d for d in sites.values()
                    if d.site_id != here.site_id and d.zone != here.zone and not d.stressed
                    and d.confirmed_kw is not None), key=lambda d: d.site_id)
    room = {d.site_id: d.headroom_kw for d in dests}
    asked: dict[str, float] = {}
    ask_to = max(dests, key=lambda d: (d.headroom_kw, d.confirmed_kw or 0.0), default=None)

    dest_ids = [d.site_id for d in dests]
    after_capacity = costs.migrate_gbp_per_kwh + costs.capacity_request_gbp_per_kwh
    can_ask = ask_to is not None and after_capacity < costs.pause_gbp_per_kwh

    def best(j: RunningJob) -> _Option | None:
        """The cheapest way to take this part off the site, given the headroom left."""
        if j.migratable and dest_ids:
            fit, fit_room = None, 0.0
            for d in dest_ids:  # best fit: the smallest headroom that takes the part
                r = room[d]
                if r + EPS >= j.power_kw and (fit is None or r < fit_room):
                    fit, fit_room = d, r
            if fit is not None:
                return _Option(StepKind.MIGRATE, costs.migrate_gbp_per_kwh, fit)
            if can_ask:
                assert ask_to is not None
                return _Option(StepKind.MIGRATE_AFTER_CAPACITY, after_capacity, ask_to.site_id)
        if not j.critical:
            return _Option(StepKind.PAUSE, costs.pause_gbp_per_kwh)
        return None

    widest = max(room.values(), default=0.0)

    def rank_unit(j: RunningJob) -> float:
        """The part's cheapest option per kWh before any headroom is used (for ordering)."""
        if j.migratable and dest_ids:
            if widest + EPS >= j.power_kw:
                return costs.migrate_gbp_per_kwh
            if can_ask:
                return after_capacity
        return costs.pause_gbp_per_kwh

    batt = here.battery
    hours = event.hours
    batt_max = 0.0
    if batt is not None and hours > 0:
        batt_max = max(0.0, min(batt.power_kw, batt.usable_kwh / hours))
    if economic and costs.battery_gbp_per_kwh >= benefit:
        batt_max = 0.0
    batt_used = 0.0

    # Cheapest relief per kWh first; among equals the larger part (fewer actions).
    ranked = sorted(candidates, key=lambda c: (rank_unit(c.job) * c.hours, -c.job.power_kw,
                                               c.job.job_id, c.job.part_id))
    chosen: list[_Choice] = []
    overshoot: list[_Candidate] = []
    battery_tried = False

    def take(c: _Candidate, opt: _Option) -> None:
        p = c.job.power_kw
        ask, before = 0.0, room.get(opt.dest or "", 0.0)
        if opt.kind == StepKind.MIGRATE:
            assert opt.dest is not None
            room[opt.dest] -= p
        elif opt.kind == StepKind.MIGRATE_AFTER_CAPACITY:
            assert opt.dest is not None
            ask = p - max(0.0, room[opt.dest])
            asked[opt.dest] = asked.get(opt.dest, 0.0) + ask
            room[opt.dest] -= p - ask
        chosen.append(_Choice.of(c, opt, ask, before))

    for c in ranked:
        if need <= EPS:
            break
        opt = best(c.job)
        if opt is None or (economic and opt.unit_gbp >= benefit):
            continue
        if not battery_tried and costs.battery_gbp_per_kwh * hours <= opt.unit_gbp * c.hours:
            battery_tried = True
            batt_used = min(need, batt_max)
            need -= batt_used
            if need <= EPS:
                break
        if c.job.power_kw > need + EPS:
            overshoot.append(c)  # would overshoot: kept for the finish below
            continue
        take(c, opt)
        need -= c.job.power_kw
    if need > EPS:
        # Finish with the cheapest of: the battery covering the rest, or one part covering it.
        batt_left = batt_max - batt_used
        covers = [(o.unit_gbp * c.job.power_kw * c.hours, i, c, o)
                  for i, c in enumerate(overshoot)
                  if c.job.power_kw + EPS >= need and (o := best(c.job)) is not None]
        cheapest = min(covers, default=None, key=lambda x: (x[0], x[1]))
        if batt_left + EPS >= need and (
                cheapest is None or costs.battery_gbp_per_kwh * need * hours <= cheapest[0]):
            batt_used += need
            need = 0.0
        elif cheapest is not None:
            take(cheapest[2], cheapest[3])
            need -= cheapest[2].job.power_kw
        else:
            take_kw = min(need, batt_left)
            batt_used += take_kw
            need -= take_kw

    if economic:
        target = already + sum(x.cand.job.power_kw for x in chosen) + batt_used
        solver = "greedy (economic)"
    else:
        chosen, batt_used = _settle(chosen, already, target, batt_max, batt_used, costs, hours)
        # Improve: a cheap part set aside for overshooting may beat what covers that need now.
        best_key = _score(chosen, already, target, batt_used, costs, hours)
        spare = sorted(overshoot, key=lambda c: (rank_unit(c.job) * c.job.power_kw * c.hours,
                                                 c.job.job_id, c.job.part_id))
        taken = {id(x.cand) for x in chosen}
        for c in [c for c in spare if id(c) not in taken][:IMPROVE_TRIES]:
            opt = best(c.job)
            if opt is None:
                continue
            before = room.get(opt.dest or "", 0.0)
            ask = (c.job.power_kw - max(0.0, before)
                   if opt.kind == StepKind.MIGRATE_AFTER_CAPACITY else 0.0)
            extra = _Choice.of(c, opt, ask, before)
            if best_key[0] <= EPS and extra.cost >= best_key[1]:
                continue  # alone it costs more than the whole answer so far
            trial, t_batt = _settle([*chosen, extra], already, target,
                                    batt_max, 0.0, costs, hours)
            key = _score(trial, already, target, t_batt, costs, hours)
            if key < best_key:
                chosen, batt_used, best_key = trial, t_batt, key
                if opt.kind == StepKind.MIGRATE and opt.dest is not None:
                    room[opt.dest] -= c.job.power_kw
        asked = {}
        for x in chosen:
            if x.opt.kind == StepKind.MIGRATE_AFTER_CAPACITY and x.opt.dest is not None:
                asked[x.opt.dest] = asked.get(x.opt.dest, 0.0) + x.ask_kw
        solver, chosen, batt_used, asked = _try_exact(
            chosen, batt_used, asked, ranked, dests, ask_to, can_ask, target - already,
            batt_max, costs, hours)

    for x in chosen:
        c, opt = x.cand, x.opt
        j, p = c.job, c.job.power_kw
        cost = opt.unit_gbp * p * c.hours
        ext = " (extending an earlier event's action)" if c.start > s else ""
        who = f"{j.job_id}/{j.part_id} ({_fmt(p)} kW)"
        if opt.kind == StepKind.MIGRATE:
            why = (f"stress {ev}: move non-critical {who} from {here.site_id} to {opt.dest}, "
                   f"whose confirmed order has {_fmt(x.room_kw)} kW headroom left; "
                   f"checkpoint first, back at {c.end:%H:%M}{ext}")
        elif opt.kind == StepKind.MIGRATE_AFTER_CAPACITY:
            why = (f"stress {ev}: checkpoint and pause non-critical {who} at {here.site_id}; "
                   f"it starts at {opt.dest} once the grid confirms "
                   f"{_fmt(x.ask_kw)} kW more capacity there for it{ext}")
        else:
            why = (f"stress {ev}: checkpoint and pause non-critical {who} at {here.site_id} "
                   f"until {c.end:%H:%M}: "
                   + ("it cannot move" if not j.migratable else
                      "no other site can take it" if solver != "exact" or widest + EPS < p else
                      "the headroom elsewhere relieves more for less with other parts")
                   + ext)
        steps.append(Step(opt.kind, here.site_id, p, c.start, c.end, cost, why, j.job_id,
                          j.part_id, opt.dest))
    if batt_used > EPS:
        assert batt is not None
        steps.append(Step(StepKind.BATTERY, here.site_id, batt_used, s, e,
                          costs.battery_gbp_per_kwh * batt_used * hours,
                          f"stress {ev}: battery discharges {_fmt(batt_used)} kW of the "
                          f"{_fmt(target)} kW requested (free power {_fmt(batt.power_kw)} kW, "
                          f"{_fmt(batt.usable_kwh)} kWh above reserve)"))
    relief = sum(st.power_kw for st in steps)
    return Decision(event, tuple(steps), target, relief, max(0.0, target - relief),
                    sum(st.cost_gbp for st in steps), asked, solver)
