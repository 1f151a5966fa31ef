"""The load-shifter's view of the sites (pure): the plan, the confirmed orders and the commands
issued so far, read as the live state the policy (`policy.decide`) takes.

A part runs at a site when it is scheduled there or started there by a command, unless a pause
command for it at that site is in force; a site's draw is the sum of what runs there; its
headroom is the capacity the grid confirmed for its order(s) minus its peak draw over the span;
its battery's charge follows the initial charge and the battery commands issued.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.compute_energy.vocab import OrderLine
from contracts.events import BatterySpec, CommandAction, PlacementScheduled, SiteCommandIssued
from services.load_shifter.policy import BatteryState, RunningJob

EPS = 1e-9


def _overlaps(a_start: datetime, a_end: datetime, s: datetime, e: datetime) -> bool:
    return a_start < e and a_end > s


def peak_draw(site_id: str, s: datetime, e: datetime, placements: Iterable[PlacementScheduled],
              commands: Iterable[SiteCommandIssued]) -> float:
    """The site's highest facility load over [s, e): scheduled parts, plus parts started there,
    less parts paused there (a sweep over every change inside the span)."""
    deltas: list[tuple[datetime, float]] = []
    for p in placements:
        if p.site_id == site_id and _overlaps(p.start, p.end, s, e):
            deltas += [(max(p.start, s), p.power_kw), (p.end, -p.power_kw)]
    for c in commands:
        if c.site_id != site_id or not _overlaps(c.start, c.end, s, e):
            continue
        sign = {CommandAction.START_JOB: 1.0, CommandAction.PAUSE_JOB: -1.0}.get(c.action)
        if sign is not None:
            deltas += [(max(c.start, s), sign * c.power_kw), (c.end, -sign * c.power_kw)]
    deltas.sort()
    load = peak = 0.0
    i = 0
    while i < len(deltas):
        t = deltas[i][0]
        if t >= e:
            break
        while i < len(deltas) and deltas[i][0] == t:
            load += deltas[i][1]
            i += 1
        peak = max(peak, load)
    return max(0.0, peak)


@dataclass(frozen=True)
class DrawProfile:
    """A site's facility load as a step function: change instants and the load after each
    change (at one instant, decreases are applied before increases)."""

    times: tuple[datetime, ...]
    after: tuple[float, ...]

    def peak(self, s: datetime, e: datetime) -> float:
        """The highest load over [s, e)."""
        i = bisect_right(self.times, s)
        j = bisect_left(self.times, e)
        at_s = self.after[i - 1] if i else 0.0
        inside = self.after[i:j]
        return max(0.0, at_s, *inside) if inside else max(0.0, at_s)


def draw_profile(placements: Iterable[PlacementScheduled],
                 commands: Iterable[SiteCommandIssued]) -> DrawProfile:
    """The site's load profile from its scheduled parts and its start/pause commands, built
    once and queried per event (`peak_draw` without the sweep)."""
    deltas: list[tuple[datetime, float]] = []
    for p in placements:
        deltas += [(p.start, p.power_kw), (p.end, -p.power_kw)]
    for c in commands:
        sign = {CommandAction.START_JOB: 1.0, CommandAction.PAUSE_JOB: -1.0}.get(c.action)
        if sign is not None and c.end > c.start:
            deltas += [(c.start, sign * c.power_kw), (c.end, -sign * c.power_kw)]
    deltas.sort()
    times: list[datetime] = []
    after: list[float] = []
    load = 0.0
    for t, d in deltas:
        load += d
        times.append(t)
        after.append(load)
    return DrawProfile(tuple(times), tuple(after))


def running_jobs(site_id: str, s: datetime, e: datetime,
                 placements: Iterable[PlacementScheduled],
                 commands: Sequence[SiteCommandIssued],
                 criticality: Mapping[tuple[str, str], tuple[bool, bool]]) -> tuple[RunningJob, ...]:
    """Parts that run at the site during [s, e): scheduled here or started here by a command.

    A part already paused here at the moment it would be acted on is `off_until` the end of
    that pause (chained pauses merged); a part with a pause starting later inside the span is
    left out, so it is never paused twice.
    """
    pauses: dict[tuple[str, str], list[SiteCommandIssued]] = {}
    runs: list[tuple[str, str, float, datetime, datetime, bool, bool, str | None]] = []
    for c in commands:
        if c.site_id != site_id or c.job_id is None or c.part_id is None or c.end <= c.start:
            continue
        if c.action == CommandAction.PAUSE_JOB:
            pauses.setdefault((c.job_id, c.part_id), []).append(c)
        elif c.action == CommandAction.START_JOB and _overlaps(c.start, c.end, s, e):
            crit, mig = criticality.get((c.job_id, c.part_id), (False, True))
            runs.append((c.job_id, c.part_id, c.power_kw, c.start, c.end, crit, mig, "moved-in"))
    for p in placements:
        if p.site_id == site_id and _overlaps(p.start, p.end, s, e):
            runs.append((p.job_id, p.part_id, p.power_kw, p.start, p.end, p.critical,
                         p.migratable, None))
    out = []
    for job_id, part_id, kw, start, end, crit, mig, moved in runs:
        a = max(s, start)
        off: datetime | None = None
        skip = False
        mine = sorted((c for c in pauses.get((job_id, part_id), ())
                       if _overlaps(c.start, c.end, start, end)), key=lambda c: c.start)
        for c in mine:
            if c.start <= (off or a) < c.end:
                off = c.end
            elif _overlaps(c.start, c.end, a, min(e, end)) and c.start > (off or a):
                skip = True
        if skip:
            continue
        out.append(RunningJob(job_id, part_id, kw, crit, mig, end, off, moved))
    out.sort(key=lambda j: (j.job_id, j.part_id, j.end))
    return tuple(out)


@dataclass(frozen=True)
class OrderCover:
    transaction_id: str
    confirmed_kw: float


def order_cover(lines: Iterable[tuple[str, OrderLine]], site_id: str, s: datetime, e: datetime,
                granted: Mapping[str, float]) -> OrderCover | None:
    """The site's confirmed order over [s, e): its lines there must cover the whole span; the
    capacity is the smallest confirmed on those lines (or granted since, by an update)."""
    here = sorted(((txn, ln) for txn, ln in lines
                   if ln.site_id == site_id and ln.confirmed_capacity_kw is not None
                   and _overlaps(ln.slot_start, ln.slot_end, s, e)),
                  key=lambda x: x[1].slot_start)
    t = s
    for _, ln in here:
        if ln.slot_start > t:
            break
        t = max(t, ln.slot_end)
    if not here or t < e:
        return None
    caps: dict[str, float] = {}
    for txn, ln in here:
        cap = max(ln.confirmed_capacity_kw or 0.0, granted.get(txn, 0.0))
        caps[txn] = min(caps.get(txn, cap), cap)
    txn = min(caps, key=lambda k: (caps[k], k))
    return OrderCover(txn, caps[txn])


def soc_at(battery: BatterySpec, initial_kwh: float, commands: Iterable[SiteCommandIssued],
           t: datetime) -> float:
    """The battery's charge at `t`: its initial charge, less discharges and plus charging
    (times round-trip efficiency, capped at capacity) commanded before `t`."""
    soc = initial_kwh
    for c in sorted(commands, key=lambda c: (c.start, c.command_id)):
        hours = max(0.0, (min(c.end, t) - c.start).total_seconds() / 3600)
        if c.action == CommandAction.BATTERY_DISCHARGE:
            soc -= c.power_kw * hours
        elif c.action == CommandAction.BATTERY_CHARGE:
            soc = min(battery.energy_kwh, soc + c.power_kw * hours * battery.round_trip_efficiency)
    return max(0.0, soc)


def battery_state(battery: BatterySpec, initial_kwh: float,
                  commands: Sequence[SiteCommandIssued], s: datetime, e: datetime) -> BatteryState:
    """What the battery can still give over [s, e): its rating less the largest discharge
    already commanded in the span, and its charge at `s` above the reserve less the energy
    earlier discharges still draw after `s`."""
    mine = [c for c in commands if c.action in (CommandAction.BATTERY_DISCHARGE,
                                                CommandAction.BATTERY_CHARGE)]
    dis = [c for c in mine if c.action == CommandAction.BATTERY_DISCHARGE and c.end > c.start]
    busy = max((sum(d.power_kw for d in dis if d.start <= t < d.end)
                for t in {s, *(d.start for d in dis if s <= d.start < e)}), default=0.0)
    promised = sum(d.power_kw * (d.end - max(d.start, s)).total_seconds() / 3600
                   for d in dis if d.end > s)
    floor = battery.reserve_soc_pct / 100 * battery.energy_kwh
    usable = soc_at(battery, initial_kwh, mine, s) - promised - floor
    return BatteryState(max(0.0, battery.power_kw - busy), max(0.0, usable))
