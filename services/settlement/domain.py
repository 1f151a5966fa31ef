"""Settlement arithmetic: energy, cost and carbon per site, actual vs the no-flex baseline.

Actual = metered grid import per interval x the zone's price / intensity in force in that
interval (location-based carbon). Baseline (the no-flexibility counterfactual) = the load the
confirmed orders nominated per interval, priced the same way. The flexibility payment is the
stress event's utilisation rate x verified MWh x a performance factor that is 0 at 50%
delivery and rises linearly to 1 at 100%.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.compute_energy.vocab import OrderLine
from contracts.events import MeterReadingRecorded, SiteSettlement, ZoneSignalPublished


class MissingSignal(LookupError):
    pass


@dataclass(frozen=True)
class ZoneSeries:
    """A zone's signals in force, looked up by instant."""

    starts: tuple[datetime, ...]
    signals: tuple[ZoneSignalPublished, ...]

    @classmethod
    def of(cls, signals: Iterable[ZoneSignalPublished]) -> ZoneSeries:
        ordered = sorted(signals, key=lambda s: s.period_start)
        return cls(tuple(s.period_start for s in ordered), tuple(ordered))

    def at(self, t: datetime) -> ZoneSignalPublished:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0 or not (self.signals[i].period_start <= t < self.signals[i].period_end):
            raise MissingSignal(f"no signal in force at {t.isoformat()}")
        return self.signals[i]


def nominated_kw(lines: Iterable[OrderLine], t: datetime) -> float:
    return sum(line.compute_load_kw for line in lines if line.slot_start <= t < line.slot_end)


def performance_factor(delivered_pct: float) -> float:
    return max(0.0, min(1.0, (delivered_pct - 50.0) / 50.0))


def flex_payment_gbp(rate_gbp_per_mwh: float, delivered_kwh: float, delivered_pct: float) -> float:
    return rate_gbp_per_mwh * max(0.0, delivered_kwh) / 1000 * performance_factor(delivered_pct)


def _mean_kw(kwh_by_interval: Sequence[tuple[float, float]]) -> float:
    hours = sum(h for _, h in kwh_by_interval)
    return sum(e for e, _ in kwh_by_interval) / hours if hours > 0 else 0.0


def settle_site(site_id: str, zone: str, series: ZoneSeries, lines: Sequence[OrderLine],
                readings: Sequence[MeterReadingRecorded], expected: int,
                event_span: tuple[datetime, datetime] | None) -> SiteSettlement:
    e = c = k = be = bc = bk = 0.0
    base_in, load_in, imp_in = [], [], []
    for r in readings:
        sig = series.at(r.start)
        h = (r.end - r.start).total_seconds() / 3600
        base = nominated_kw(lines, r.start) * h
        e += r.import_kwh
        c += r.import_kwh * sig.price_gbp_per_kwh
        k += r.import_kwh * sig.carbon_g_per_kwh / 1000
        be += base
        bc += base * sig.price_gbp_per_kwh
        bk += base * sig.carbon_g_per_kwh / 1000
        if event_span and event_span[0] <= r.start and r.end <= event_span[1]:
            base_in.append((base, h))
            load_in.append((r.load_kwh, h))
            imp_in.append((r.import_kwh, h))
    return SiteSettlement(
        site_id=site_id, zone=zone, energy_kwh=round(e, 6), cost_gbp=round(c, 6),
        carbon_kg=round(k, 6), baseline_energy_kwh=round(be, 6), baseline_cost_gbp=round(bc, 6),
        baseline_carbon_kg=round(bk, 6), load_kw_before_event=round(_mean_kw(base_in), 6),
        load_kw_after_event=round(_mean_kw(load_in), 6),
        import_kw_after_event=round(_mean_kw(imp_in), 6),
        missing_readings=max(0, expected - len(readings)))


def reduction_pct(baseline: float, actual: float) -> float:
    return round(100.0 * (baseline - actual) / baseline, 4) if baseline else 0.0


def by_zone(signals: Mapping[tuple[str, datetime], ZoneSignalPublished]) -> dict[str, ZoneSeries]:
    zones: dict[str, list[ZoneSignalPublished]] = {}
    for (zone, _), s in signals.items():
        zones.setdefault(zone, []).append(s)
    return {z: ZoneSeries.of(v) for z, v in zones.items()}
