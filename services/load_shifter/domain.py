"""The load-shifter's policy for one stress event at one site (pure).

Order of actions, cheapest first for the operator: (1) migrate non-critical migratable parts
to a site in another zone whose confirmed order has headroom over the whole event (never beyond the
capacity the grid confirmed); (2) pause non-critical parts that cannot move; (3) discharge
the site battery within its power and its energy above the reserve for the event's length;
(4) report what is still missing as a shortfall. Critical parts are never touched. The
battery is recharged afterwards, from its recharge time, at full power until the energy it
gave (divided by round-trip efficiency) is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.events import BatterySpec, CommandAction, PlacementScheduled

EPS = 1e-9


@dataclass(frozen=True)
class Action:
    action: CommandAction
    site_id: str
    power_kw: float
    start: datetime
    end: datetime
    reason: str
    job_id: str | None = None
    part_id: str | None = None


@dataclass(frozen=True)
class Response:
    requested_kw: float
    shifted_kw: float
    paused_kw: float
    battery_kw: float
    shortfall_kw: float
    shifted_to: tuple[str, ...]
    actions: tuple[Action, ...]
    receiving_load_kw: dict[str, float]


def _overlaps(p: PlacementScheduled, s: datetime, e: datetime) -> bool:
    return p.start < e and p.end > s


def site_load(placements: Sequence[PlacementScheduled], site_id: str, s: datetime,
              e: datetime) -> float:
    """Peak scheduled load at a site over [s, e), sampled at every placement boundary."""
    here = [p for p in placements if p.site_id == site_id and _overlaps(p, s, e)]
    marks = sorted({s, *(p.start for p in here if s <= p.start < e)})
    return max((sum(p.power_kw for p in here if p.start <= t < p.end) for t in marks),
               default=0.0)


def headroom(placements: Sequence[PlacementScheduled], site_id: str, s: datetime,
             e: datetime) -> float:
    """Confirmed capacity minus scheduled load, over a span fully inside the site's orders."""
    orders = [p for p in placements if p.site_id == site_id and p.start <= s and p.end >= e]
    if not orders:
        return 0.0
    return min(p.order_capacity_kw for p in orders) - site_load(placements, site_id, s, e)


def plan_response(site_id: str, requested_kw: float, start: datetime, end: datetime,
                  placements: Sequence[PlacementScheduled], battery: BatterySpec | None,
                  battery_soc_kwh: float, event_id: str) -> Response:
    actions: list[Action] = []
    need = requested_kw
    shifted = paused = 0.0
    shifted_to: list[str] = []
    receiving: dict[str, float] = {}
    running = sorted((p for p in placements if p.site_id == site_id and _overlaps(p, start, end)
                      and not p.critical), key=lambda p: (-p.power_kw, p.job_id, p.part_id))
    zone = next((p.zone for p in placements if p.site_id == site_id), None)
    others = sorted({p.site_id for p in placements if p.site_id != site_id and p.zone != zone})
    added: dict[str, float] = {}
    for part in running:
        if need <= EPS:
            break
        s, e = max(start, part.start), part.end
        dest = None
        if part.migratable:
            dest = next((d for d in others
                         if headroom(placements, d, s, e) - added.get(d, 0.0) + EPS
                         >= part.power_kw), None)
        if dest is not None:
            room = headroom(placements, dest, s, e) - added.get(dest, 0.0)
            added[dest] = added.get(dest, 0.0) + part.power_kw
            why = (f"stress {event_id}: moved non-critical {part.job_id}/{part.part_id} "
                   f"({part.power_kw:g} kW) from {site_id} to {dest}, which had "
                   f"{room:g} kW headroom under its confirmed order")
            actions.append(Action(CommandAction.PAUSE_JOB, site_id, part.power_kw, s, e, why,
                                  part.job_id, part.part_id))
            actions.append(Action(CommandAction.START_JOB, dest, part.power_kw, s, e, why,
                                  part.job_id, part.part_id))
            shifted += part.power_kw
            if dest not in shifted_to:
                shifted_to.append(dest)
        else:
            why = (f"stress {event_id}: paused non-critical {part.job_id}/{part.part_id} "
                   f"({part.power_kw:g} kW) at {site_id}: no site has headroom for it; "
                   "its work until the event ends is lost to its deadline")
            actions.append(Action(CommandAction.PAUSE_JOB, site_id, part.power_kw, s,
                                  min(e, end), why, part.job_id, part.part_id))
            paused += part.power_kw
        need -= part.power_kw
    for dest, kw in added.items():
        receiving[dest] = site_load(placements, dest, start, end) + kw
    batt_kw = 0.0
    if need > EPS and battery is not None:
        hours = (end - start).total_seconds() / 3600
        usable = max(0.0, battery_soc_kwh - battery.reserve_soc_pct / 100 * battery.energy_kwh)
        batt_kw = min(need, battery.power_kw, usable / hours if hours > 0 else 0.0)
        if batt_kw > EPS:
            actions.append(Action(CommandAction.BATTERY_DISCHARGE, site_id, batt_kw, start, end,
                                  f"stress {event_id}: battery covers {batt_kw:g} kW of the "
                                  f"{need:g} kW still requested"))
            need -= batt_kw
            if battery.recharge_from is not None:
                grid_kwh = batt_kw * hours / battery.round_trip_efficiency
                r_start = max(battery.recharge_from, end)
                r_end = r_start + timedelta(hours=grid_kwh / battery.power_kw)
                actions.append(Action(CommandAction.BATTERY_CHARGE, site_id, battery.power_kw,
                                      r_start, r_end,
                                      f"stress {event_id}: recharge {grid_kwh:.2f} kWh from the "
                                      f"grid to restore the {batt_kw * hours:g} kWh discharged"))
        else:
            batt_kw = 0.0
    return Response(requested_kw, shifted, paused, batt_kw, max(0.0, need), tuple(shifted_to),
                    tuple(actions), receiving)
