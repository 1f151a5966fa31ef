"""Measurement and verification: delivered flexibility per settlement period and the verdict.

Per period of the event: D = baseline kWh - metered kWh (a period whose readings are missing or
overlap credits nothing). Over the event: delivered kW = sum D / event hours; verdict
`delivered` at >= 95% of the instructed reduction, `partial` above 0, `failed` otherwise
(including a negative delivery: the load went up). At a receiving site the increase is metered -
baseline over its fully metered periods; net system flexibility = delivered at the stressed site
- the increase at the receiving sites.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.compute_energy.vocab import OrderLine
from contracts.events import Verdict
from services.metering_validator.baselines import Baseline
from services.metering_validator.periods import Meter

DELIVERED_PCT = 95.0


def nominated_kw(lines: Iterable[OrderLine], site_id: str, t: datetime) -> float:
    """The load a site's confirmed order lines nominated for the instant `t` (half-open slots)."""
    return sum(line.compute_load_kw for line in lines
               if line.site_id == site_id and line.slot_start <= t < line.slot_end)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    baseline_kwh: float
    metered_kwh: float | None
    delivered_kwh: float


@dataclass(frozen=True)
class SiteMeasure:
    intervals: tuple[Interval, ...]
    baseline_kw: float
    metered_kw: float
    """Over the fully metered periods (0 when none)."""
    delivered_kwh: float
    """Sum of D over the periods, missing ones counting 0."""
    delivered_kw: float
    increase_kwh: float
    """Sum of (metered - baseline) over the fully metered periods."""
    missing: int


def measure(meter: Meter, periods: Sequence[datetime], baseline: Baseline) -> SiteMeasure:
    """D per period against `baseline`, and its time-weighted averages over the event."""
    step = timedelta(minutes=meter.minutes)
    hours = len(periods) * meter.minutes / 60
    rows = []
    for p, b in zip(periods, baseline.kwh, strict=True):
        m = meter.complete(p)
        rows.append(Interval(p, p + step, b, m, 0.0 if m is None else b - m))
    if hours <= 0:
        return SiteMeasure((), 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    metered = [r for r in rows if r.metered_kwh is not None]
    met_hours = len(metered) * meter.minutes / 60
    delivered = sum(r.delivered_kwh for r in rows)
    return SiteMeasure(
        intervals=tuple(rows),
        baseline_kw=sum(r.baseline_kwh for r in rows) / hours,
        metered_kw=sum(r.metered_kwh or 0.0 for r in metered) / met_hours if met_hours else 0.0,
        delivered_kwh=delivered,
        delivered_kw=delivered / hours,
        increase_kwh=-sum(r.delivered_kwh for r in metered),
        missing=len(rows) - len(metered),
    )


def verdict(delivered_kw: float, requested_kw: float) -> tuple[float, Verdict]:
    """Delivered % of the instructed reduction and the verdict (>= 95% delivered, > 0 partial)."""
    pct = 100.0 * delivered_kw / requested_kw if requested_kw > 0 else 100.0
    if pct >= DELIVERED_PCT:
        return pct, Verdict.DELIVERED
    return pct, (Verdict.PARTIAL if delivered_kw > 0 else Verdict.FAILED)
