"""Measurement and verification against the nominated baseline (the skeleton's method).

Baseline = the load the site's confirmed Beckn orders nominated for each meter interval
(compute_load_kw over each line's slot). Delivered flexibility per interval = baseline -
metered grid import. Verdict per event: delivered when >= 95% of the requested reduction on
average, partial when above zero, failed otherwise. Net system flexibility subtracts the
increase measured at receiving sites (metered - their own nominated baseline). The full M&V
(DFS-style and CAISO 10-in-10 baselines) is issue #4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from contracts.compute_energy.vocab import OrderLine
from contracts.events import Verdict

DELIVERED_PCT = 95.0


@dataclass(frozen=True)
class Metered:
    """Grid import over one meter interval."""

    start: datetime
    end: datetime
    import_kwh: float

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def nominated_kw(lines: Iterable[OrderLine], site_id: str, t: datetime) -> float:
    return sum(line.compute_load_kw for line in lines
               if line.site_id == site_id and line.slot_start <= t < line.slot_end)


@dataclass(frozen=True)
class SiteMeasure:
    baseline_kw: float
    metered_kw: float
    delivered_kwh: float
    intervals: int


def measure(lines: Iterable[OrderLine], site_id: str, readings: Mapping[datetime, Metered],
            start: datetime, end: datetime) -> SiteMeasure:
    """Time-weighted baseline and metered kW over [start, end), and baseline - metered kWh."""
    lines = list(lines)
    span = [r for t, r in sorted(readings.items()) if start <= t and r.end <= end]
    hours = sum(r.hours for r in span)
    if hours <= 0:
        return SiteMeasure(0.0, 0.0, 0.0, 0)
    base_kwh = sum(nominated_kw(lines, site_id, r.start) * r.hours for r in span)
    met_kwh = sum(r.import_kwh for r in span)
    return SiteMeasure(base_kwh / hours, met_kwh / hours, base_kwh - met_kwh, len(span))


def verdict(delivered_kw: float, requested_kw: float) -> tuple[float, Verdict]:
    pct = 100.0 * delivered_kw / requested_kw if requested_kw > 0 else 100.0
    if pct >= DELIVERED_PCT:
        return pct, Verdict.DELIVERED
    return pct, (Verdict.PARTIAL if delivered_kw > 0 else Verdict.FAILED)
