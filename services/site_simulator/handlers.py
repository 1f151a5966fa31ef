"""Site simulator handlers: apply plans and commands, emit meter readings as time advances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.events import (
    ClockAdvanced,
    MeterDayClosed,
    MeterReadingRecorded,
    PlacementScheduled,
    SiteCommandIssued,
    SiteRegistered,
)
from contracts.topics import READINGS
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import Inbound, Out
from services.site_simulator.domain import (
    battery_setpoint_kw,
    facility_load_kw,
    simulate_interval,
)

SOURCE = "site-simulator"


@dataclass
class SiteSimState:
    resolution: timedelta
    sites: dict[str, SiteRegistered] = field(default_factory=dict)
    placements: list[PlacementScheduled] = field(default_factory=list)
    commands: list[SiteCommandIssued] = field(default_factory=list)
    soc_kwh: dict[str, float] = field(default_factory=dict)
    metered_until: dict[str, datetime] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)


def on_site_registered(st: SiteSimState, m: Inbound) -> Sequence[Out]:
    """A site comes online with its battery at its initial state of charge."""
    site = m.value.payload
    st.sites[site.site_id] = site
    if site.battery is not None:
        st.soc_kwh[site.site_id] = site.battery.initial_soc_pct / 100 * site.battery.energy_kwh
    return []


def on_placement_scheduled(st: SiteSimState, m: Inbound) -> Sequence[Out]:
    """The scheduler will run this part at this site over its span."""
    st.placements.append(m.value.payload)
    return []


def on_command_issued(st: SiteSimState, m: Inbound) -> Sequence[Out]:
    """Actuators take the command from its start time on; a replacement drops the command it
    replaces."""
    c = m.value.payload
    if c.replaces is not None:
        st.commands = [k for k in st.commands if k.command_id != c.replaces]
    st.commands.append(c)
    return []


def on_clock_advanced(st: SiteSimState, m: Inbound) -> Sequence[Out]:
    """Meter every site up to `now` (never past the day's end); close the day at its end."""
    tick = m.value.payload
    assert isinstance(tick, ClockAdvanced)
    outs: list[Out] = []
    until = min(tick.now, tick.day_end)
    hours = st.resolution.total_seconds() / 3600
    for site_id, site in sorted(st.sites.items()):
        t = st.metered_until.get(site_id, tick.day_start)
        while t + st.resolution <= until:
            load = facility_load_kw(site_id, t, st.placements, st.commands)
            setpoint = battery_setpoint_kw(site_id, t, st.commands)
            iv = simulate_interval(load, setpoint, site.battery, st.soc_kwh.get(site_id, 0.0),
                                   hours)
            if site.battery is not None:
                st.soc_kwh[site_id] = iv.soc_kwh
            r = MeterReadingRecorded(
                site_id=site_id, start=t, end=t + st.resolution,
                import_kwh=round(iv.import_kwh, 9), load_kwh=round(iv.load_kwh, 9),
                battery_discharge_kwh=round(iv.battery_discharge_kwh, 9),
                battery_soc_pct=(None if site.battery is None
                                 else round(100 * iv.soc_kwh / site.battery.energy_kwh, 9)))
            outs.append(Out(READINGS, site_id, envelope(
                r, id=stable_id("reading", site_id, t.isoformat()), time=r.end, source=SOURCE)))
            st.readings[site_id] = st.readings.get(site_id, 0) + 1
            t += st.resolution
        st.metered_until[site_id] = t
        if t >= tick.day_end and site_id not in st.closed:
            st.closed.add(site_id)
            c = MeterDayClosed(site_id=site_id, day_start=tick.day_start, day_end=tick.day_end,
                               readings=st.readings.get(site_id, 0))
            outs.append(Out(READINGS, site_id, envelope(
                c, id=stable_id("day-closed", site_id, tick.day_end.isoformat()),
                time=tick.day_end, source=SOURCE)))
    return outs


HANDLERS = {
    "compflex.site.registered": on_site_registered,
    "compflex.placement.scheduled": on_placement_scheduled,
    "site.command.issued": on_command_issued,
    "sim.clock.advanced": on_clock_advanced,
}
