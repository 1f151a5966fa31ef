"""A data centre's physics, minute by minute: scheduled load, commands, battery limits.

This is the stand-in for a real premise meter feed: a real deployment replaces the simulator
with the site's meter data collector publishing the same `metering.reading.recorded` events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.events import BatterySpec, CommandAction, PlacementScheduled, SiteCommandIssued


@dataclass(frozen=True)
class Interval:
    load_kwh: float
    battery_discharge_kwh: float
    soc_kwh: float

    @property
    def import_kwh(self) -> float:
        return self.load_kwh - self.battery_discharge_kwh


def _active(start: datetime, end: datetime, t: datetime) -> bool:
    return start <= t < end


def facility_load_kw(site_id: str, t: datetime, placements: Sequence[PlacementScheduled],
                     commands: Sequence[SiteCommandIssued]) -> float:
    """Scheduled parts at the site, less paused ones, plus parts started here by a command."""
    load = sum(p.power_kw for p in placements if p.site_id == site_id and _active(p.start, p.end, t))
    for c in commands:
        if c.site_id != site_id or not _active(c.start, c.end, t):
            continue
        if c.action == CommandAction.PAUSE_JOB:
            load -= c.power_kw
        elif c.action == CommandAction.START_JOB:
            load += c.power_kw
    return max(0.0, load)


def battery_setpoint_kw(site_id: str, t: datetime, commands: Sequence[SiteCommandIssued]) -> float:
    """Requested battery power: positive discharges, negative charges."""
    kw = 0.0
    for c in commands:
        if c.site_id == site_id and _active(c.start, c.end, t):
            if c.action == CommandAction.BATTERY_DISCHARGE:
                kw += c.power_kw
            elif c.action == CommandAction.BATTERY_CHARGE:
                kw -= c.power_kw
    return kw


def simulate_interval(load_kw: float, setpoint_kw: float, battery: BatterySpec | None,
                      soc_kwh: float, hours: float) -> Interval:
    """One meter interval; the battery honours its power, reserve and capacity limits
    (charging losses are taken on the way in: stored = drawn x round-trip efficiency)."""
    if battery is None or setpoint_kw == 0:
        return Interval(load_kw * hours, 0.0, soc_kwh)
    kw = max(-battery.power_kw, min(battery.power_kw, setpoint_kw))
    if kw > 0:
        floor = battery.reserve_soc_pct / 100 * battery.energy_kwh
        out = min(kw * hours, max(0.0, soc_kwh - floor))
        return Interval(load_kw * hours, out, soc_kwh - out)
    room = battery.energy_kwh - soc_kwh
    drawn = min(-kw * hours, room / battery.round_trip_efficiency)
    return Interval(load_kw * hours, -drawn, soc_kwh + drawn * battery.round_trip_efficiency)
