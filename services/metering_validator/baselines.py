"""Baselines: what a site would have imported over an event's periods had it not responded.

Methods (chosen per programme, `Programme.method`):
- `nominated`: the load the site's confirmed Beckn orders nominated (the seed day's method);
- `dfs`: UK Demand Flexibility Service style: per period, the mean of the same settlement periods
  (same local clock time) over the last 10 eligible working days, plus an additive in-day
  adjustment = mean(metered - baseline) over the 3 hours before the event (off for batteries);
- `caiso_10_in_10`: per period, the mean over the 10 most recent eligible days (at least 5);
- `high_5_of_10`: of the 10 most recent eligible days, the 5 with the highest consumption over
  the event's periods, averaged per period.
Eligible history day: the same kind as the event day (working = Mon-Fri and not a holiday, or
not), not a prior event day of the site, not a declared outage, and metered completely (a meter
gap is treated as an outage). A baseline with fewer than `min_days` eligible days inside
`lookback_days` is refused (`BaselineRefused`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.metering_validator.periods import Meter, local_day, period_starts, wall_time


class Method(StrEnum):
    NOMINATED = "nominated"
    DFS = "dfs"
    CAISO_10_IN_10 = "caiso_10_in_10"
    HIGH_5_OF_10 = "high_5_of_10"


_PRESETS: dict[Method, dict[str, Any]] = {
    Method.NOMINATED: {"days": 0, "min_days": 0, "adjustment": "none"},
    Method.DFS: {"days": 10, "min_days": 10, "adjustment": "additive"},
    Method.CAISO_10_IN_10: {"days": 10, "min_days": 5, "adjustment": "none"},
    Method.HIGH_5_OF_10: {"days": 10, "min_days": 10, "highest": 5, "adjustment": "none"},
}


class Programme(BaseModel):
    """A flexibility programme's measurement rules; unset fields take the method's preset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Method.NOMINATED
    days: int = Field(10, ge=0, le=60, description="eligible days used (working-day events)")
    min_days: int = Field(10, ge=0, le=60, description="fewer eligible days: refused")
    non_working_days: int = Field(4, ge=1, le=20, description="days used for weekend/holiday events")
    highest: int | None = Field(None, ge=1, le=60, description="keep only the N highest days")
    lookback_days: int = Field(45, ge=1, le=120)
    adjustment: Literal["none", "additive", "multiplicative"] = "none"
    adjustment_hours: float = Field(3.0, gt=0, le=12)
    adjustment_cap: float | None = Field(None, gt=0, le=1,
                                         description="multiplicative: ratio kept in 1 +/- cap")
    gaming_uplift: float = Field(0.2, gt=0, description="pre-event load above baseline flagged")
    rrmse_flag: float = Field(0.2, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            method = Method(data.get("method", Method.NOMINATED))
            return {**_PRESETS[method], **data}
        return data

    @model_validator(mode="after")
    def _sane(self) -> Programme:
        if self.min_days > self.days:
            raise ValueError(f"min_days {self.min_days} > days {self.days}")
        if self.highest is not None and self.highest > self.min_days:
            raise ValueError(f"highest {self.highest} needs min_days >= it")
        return self


class BaselineRefused(ValueError):
    """Too little eligible history (or none of the data a method needs)."""


@dataclass(frozen=True)
class History:
    """What decides whether a past day may stand in for the event day."""

    holidays: Collection[date] = ()
    event_days: Collection[date] = ()
    outage_days: Collection[date] = ()


@dataclass(frozen=True)
class Baseline:
    method: Method
    kwh: tuple[float, ...]
    """Per event period, after any in-day adjustment."""
    unadjusted_kwh: tuple[float, ...]
    days: tuple[date, ...] = ()
    adjustment_kwh: float = 0.0
    """Additive: kWh added to each period. Multiplicative: (ratio - 1) x mean period kWh."""
    uplift: float | None = None
    """Pre-event metered over baseline, minus 1 (None when not measurable)."""
    gaming: bool = False
    notes: tuple[str, ...] = ()


def is_working(d: date, holidays: Collection[date]) -> bool:
    return d.weekday() < 5 and d not in holidays


def _walls(meter: Meter, d: date) -> dict[time, datetime]:
    """Local clock time -> UTC period start on day `d` (the first of October's doubled hour)."""
    out: dict[time, datetime] = {}
    for t in period_starts(d, meter.minutes):
        out.setdefault(wall_time(t), t)
    return out


def eligible_days(meter: Meter, day: date, walls: Sequence[time], prog: Programme,
                  hist: History) -> list[date]:
    """Most recent first: up to the number the programme uses, each with every needed period."""
    working = is_working(day, hist.holidays)
    want = prog.days if working else min(prog.days, prog.non_working_days)
    out: list[date] = []
    for k in range(1, prog.lookback_days + 1):
        if len(out) >= want:
            break
        h = day - timedelta(days=k)
        if is_working(h, hist.holidays) != working:
            continue
        if h in hist.event_days or h in hist.outage_days or not meter.day_complete(h):
            continue
        by_wall = _walls(meter, h)
        if all(w in by_wall for w in walls):  # a 46-period day lacks 01:00-02:00
            out.append(h)
    return out


def _profile(meter: Meter, days: Sequence[date], walls: Sequence[time]) -> list[list[float]]:
    """kWh per day (rows) per wall-clock period (columns)."""
    rows = []
    for h in days:
        by_wall = _walls(meter, h)
        rows.append([meter.complete(by_wall[w]) or 0.0 for w in walls])
    return rows


def _mean_cols(rows: Sequence[Sequence[float]]) -> list[float]:
    return [sum(col) / len(rows) for col in zip(*rows, strict=True)]


def pre_event_window(periods: Sequence[datetime], prog: Programme, minutes: int) -> list[datetime]:
    """The periods in the `adjustment_hours` before the event, on the event's own local day
    (an event just after midnight gets a shorter window)."""
    start = periods[0]
    step = timedelta(minutes=minutes)
    n = int(timedelta(hours=prog.adjustment_hours) / step)
    window = [start - (i + 1) * step for i in range(n)][::-1]
    return [t for t in window if local_day(t) == local_day(start)]


def history_baseline(meter: Meter, periods: Sequence[datetime], prog: Programme, hist: History,
                     *, battery: bool = False) -> Baseline:
    """The DFS / 10-in-10 / high-5-of-10 baseline of `periods` (UTC starts on one local day)."""
    if not periods:
        raise BaselineRefused("the event covers no whole settlement period")
    day = local_day(periods[0])
    walls = [wall_time(p) for p in periods]
    window = pre_event_window(periods, prog, meter.minutes)
    working = is_working(day, hist.holidays)
    need = prog.min_days if working else min(prog.min_days, prog.non_working_days)
    days = eligible_days(meter, day, walls + [wall_time(t) for t in window], prog, hist)
    if len(days) < need:
        kind = "working" if working else "non-working"
        raise BaselineRefused(
            f"{prog.method.value}: {len(days)} eligible {kind} days in the last "
            f"{prog.lookback_days} < {need} required")
    rows = _profile(meter, days, walls)
    if prog.highest is not None:
        ranked = sorted(range(len(days)), key=lambda i: (-sum(rows[i]), i))[:prog.highest]
        keep = sorted(ranked)
        days = [days[i] for i in keep]
        rows = [rows[i] for i in keep]
    base = _mean_cols(rows)
    window_base = _mean_cols(_profile(meter, days, [wall_time(t) for t in window])) \
        if window else []
    return _adjust(meter, base, window, window_base, prog, battery=battery, method=prog.method,
                   days=tuple(days))


def nominated_baseline(meter: Meter, periods: Sequence[datetime],
                       nominated_kw: Callable[[datetime], float], prog: Programme) -> Baseline:
    """The confirmed orders' nominated load per period; pre-event uplift measured, never added."""
    if not periods:
        raise BaselineRefused("the event covers no whole settlement period")
    hours = meter.minutes / 60
    base = [nominated_kw(p) * hours for p in periods]
    window = pre_event_window(periods, prog, meter.minutes)
    flat = prog.model_copy(update={"adjustment": "none"})
    return _adjust(meter, base, window, [nominated_kw(t) * hours for t in window], flat,
                   battery=False, method=Method.NOMINATED)


def _adjust(meter: Meter, base: list[float], window: Sequence[datetime],
            window_base: Sequence[float], prog: Programme, *, battery: bool, method: Method,
            days: tuple[date, ...] = ()) -> Baseline:
    """In-day adjustment over the hours before the event, and the pre-event uplift (gaming)."""
    notes: list[str] = []
    actual = [meter.complete(t) for t in window]
    uplift: float | None = None
    gaming = False
    adjusted = list(base)
    adj_kwh = 0.0
    if not window:
        notes.append("no period before the event on its day: no in-day adjustment")
    elif any(a is None for a in actual):
        notes.append("missing readings in the hours before the event: no in-day adjustment")
    else:
        total_a = sum(a for a in actual if a is not None)
        total_b = sum(window_base)
        if total_b > 0:
            uplift = total_a / total_b - 1
        gaming = uplift is not None and uplift > prog.gaming_uplift
        if gaming:
            notes.append(f"pre-event load {uplift:.1%} above baseline (> "
                         f"{prog.gaming_uplift:.0%}): possible inflation, no upward adjustment")
        if prog.adjustment != "none" and battery:
            notes.append("battery: no in-day adjustment")
        elif prog.adjustment == "additive":
            adj_kwh = (total_a - total_b) / len(window)
            if gaming:
                adj_kwh = min(adj_kwh, 0.0)
            adjusted = [b + adj_kwh for b in base]
        elif prog.adjustment == "multiplicative" and total_b > 0:
            ratio = total_a / total_b
            if prog.adjustment_cap is not None:
                ratio = min(max(ratio, 1 - prog.adjustment_cap), 1 + prog.adjustment_cap)
            if gaming:
                ratio = min(ratio, 1.0)
            adjusted = [b * ratio for b in base]
            adj_kwh = (ratio - 1) * sum(base) / len(base)
    return Baseline(method, tuple(adjusted), tuple(base), days, adj_kwh, uplift, gaming,
                    tuple(notes))


def accuracy(meter: Meter, periods: Sequence[datetime], prog: Programme, hist: History,
             test_days: Sequence[date], *, battery: bool = False) -> tuple[float | None, int]:
    """RRMSE of the method on non-event days: each test day's baseline (from its own history)
    against what it metered over the event's clock periods; root mean square error over mean
    metered. Returns (rrmse or None when no test day had enough history, days tested)."""
    walls = [wall_time(p) for p in periods]
    sq = total = 0.0
    n = tested = 0
    for d in test_days:
        by_wall = _walls(meter, d)
        if not all(w in by_wall for w in walls):
            continue
        ps = [by_wall[w] for w in walls]
        try:
            b = history_baseline(meter, ps, prog, hist, battery=battery)
        except BaselineRefused:
            continue
        tested += 1
        for p, est in zip(ps, b.kwh, strict=True):
            a = meter.complete(p) or 0.0
            sq += (est - a) ** 2
            total += a
            n += 1
    if n == 0 or total <= 0:
        return None, tested
    return math.sqrt(sq / n) / (total / n), tested
