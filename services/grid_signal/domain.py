"""GridFlexAgent's rules: zone signals in force, windows on offer, capacity for orders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.events import ZoneSignalPublished
from contracts.scenario import Scenario, StressEventSpec, minutes


@dataclass(frozen=True)
class Window:
    """A flexibility window on offer: averages of the zone's forecast signals over its span."""

    item_id: str
    zone: str
    area: str
    start: datetime
    end: datetime
    renewable_pct: float
    carbon_g_per_kwh: float
    price_gbp_per_kwh: float
    capacity_kw: float
    stress_surcharge_gbp_per_kwh: float


def _base_block(sc: Scenario, zone: str, minute: int) -> tuple[float, float, float]:
    for b in sc.zones[zone].signals:
        if minutes(b.from_) <= minute < minutes(b.to):
            return b.renewable_pct, b.carbon_g_per_kwh, b.price_gbp_per_kwh
    raise ValueError(f"zone {zone} has no signal at minute {minute}")


def _marginal(sc: Scenario, zone: str, minute: int, ev: StressEventSpec | None) -> float | None:
    """The marginal intensity in force: the stress event's when it gives one, else the block's."""
    if ev is not None and ev.marginal_carbon_g_per_kwh is not None:
        return ev.marginal_carbon_g_per_kwh
    for b in sc.zones[zone].signals:
        if minutes(b.from_) <= minute < minutes(b.to):
            return b.marginal_carbon_g_per_kwh
    return None


def stress_at(sc: Scenario, zone: str, minute: int) -> StressEventSpec | None:
    for e in sc.stress_events:
        if e.zone == zone and minutes(e.from_) <= minute < minutes(e.to):
            return e
    return None


def zone_signals(sc: Scenario, zone: str) -> list[ZoneSignalPublished]:
    """The zone's actual signal per settlement period; a stress event overrides its span
    (renewables and intensity replaced, its price delta added to the base price)."""
    out = []
    step = sc.period_minutes
    for m in range(0, 24 * 60, step):
        ren, co2, price = _base_block(sc, zone, m)
        ev = stress_at(sc, zone, m)
        if ev is not None:
            ren, co2, price = ev.renewable_pct, ev.carbon_g_per_kwh, price + ev.price_delta_gbp_per_kwh
        start = sc.day_start + timedelta(minutes=m)
        out.append(ZoneSignalPublished(
            zone=zone, period_start=start, period_end=start + timedelta(minutes=step),
            renewable_pct=ren, carbon_g_per_kwh=co2, price_gbp_per_kwh=round(price, 6),
            stress_event_id=None if ev is None else ev.id,
            marginal_carbon_g_per_kwh=_marginal(sc, zone, m, ev)))
    return out


def offered_windows(sc: Scenario) -> list[Window]:
    """Every zone's windows with time-weighted averages of its forecast (unstressed) signals."""
    out = []
    for zone, spec in sc.zones.items():
        for w in spec.windows:
            lo, hi = minutes(w.from_), minutes(w.to)
            vals = [_base_block(sc, zone, m) for m in range(lo, hi)]
            n = len(vals)
            out.append(Window(
                item_id=f"window-{zone.lower()}-{w.from_.replace(':', '')}-{w.to.replace(':', '')}",
                zone=zone, area=spec.area, start=sc.at(w.from_), end=sc.at(w.to),
                renewable_pct=round(sum(v[0] for v in vals) / n, 3),
                carbon_g_per_kwh=round(sum(v[1] for v in vals) / n, 3),
                price_gbp_per_kwh=round(sum(v[2] for v in vals) / n, 6),
                capacity_kw=w.capacity_kw,
                stress_surcharge_gbp_per_kwh=w.stress_surcharge_gbp_per_kwh))
    return out


@dataclass(frozen=True)
class LineRequest:
    window_id: str
    capacity_kw: float


def capacity_shortfalls(windows: dict[str, Window], reserved: dict[str, float],
                        lines: Iterable[LineRequest]) -> list[str]:
    """Why an order cannot be granted: unknown windows or capacity beyond what is left.

    An order's lines in one window all ask for the same site capacity in that window (they
    differ by job or time slot), so the order needs the largest of them, not their sum.
    """
    problems = []
    asked: dict[str, float] = {}
    for line in lines:
        asked[line.window_id] = max(asked.get(line.window_id, 0.0), line.capacity_kw)
    for wid, kw in sorted(asked.items()):
        w = windows.get(wid)
        if w is None:
            problems.append(f"{wid}: no such window on offer")
            continue
        left = w.capacity_kw - reserved.get(wid, 0.0)
        if kw > left + 1e-9:
            problems.append(f"{wid}: {kw:g} kW asked, {left:g} kW left of {w.capacity_kw:g} kW")
    return problems
