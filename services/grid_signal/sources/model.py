"""Zone signal points from any source, aligned onto a regular grid with explicit gap handling."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

HALF_HOUR = timedelta(minutes=30)
VALUE_FIELDS: tuple[str, ...] = ("carbon_g_per_kwh", "price_gbp_per_kwh", "renewable_pct")

Keep = Literal["first", "last", "error"]
FillMethod = Literal["previous", "linear"]


@dataclass(frozen=True, kw_only=True)
class SignalPoint:
    """One zone's signals over [start, end). A field is None where the source has no value
    (a gap for that field); sources that never carry a field (a price CSV has no carbon) leave it
    None throughout. Units: gCO2/kWh, £/kWh, percent of generation."""

    zone: str
    start: datetime
    end: datetime
    carbon_g_per_kwh: float | None
    price_gbp_per_kwh: float | None
    renewable_pct: float | None = None
    source: str

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            t = getattr(self, name)
            if t.tzinfo is None or t.utcoffset() != timedelta(0):
                raise ValueError(f"{self.zone}: {name} must be UTC (got {t!r})")
        if self.end <= self.start:
            raise ValueError(f"{self.zone}: end {self.end} is not after start {self.start}")

    def values(self) -> dict[str, float | None]:
        return {f: getattr(self, f) for f in VALUE_FIELDS}


class SourceError(ValueError):
    """A source's content cannot be read as zone signals (bad shape, bad row, conflict)."""


class GapTooLongError(SourceError):
    """A run of missing slots is longer than the caller allows to fill, or cannot be filled."""

    def __init__(self, zone: str, field_name: str, start: datetime, slots: int, why: str):
        self.zone, self.field_name, self.start, self.slots = zone, field_name, start, slots
        super().__init__(f"{zone}: {field_name} missing for {slots} slot(s) from "
                         f"{start.isoformat()}: {why}")


def parse_utc(text: str, *, naive_is_utc: bool = False) -> datetime:
    """An ISO 8601 instant as an aware UTC datetime. Accepts `2023-06-05T00:00Z`,
    `2023-06-05T00:00:00Z`, `2023-06-05 00:00:00+00:00` and other offsets. A string without
    an offset is refused unless the format documents UTC (`naive_is_utc=True`)."""
    s = text.strip()
    try:
        t = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
    except ValueError as e:
        raise SourceError(f"not an ISO 8601 timestamp: {text!r}") from e
    if t.tzinfo is None:
        if not naive_is_utc:
            raise SourceError(f"timestamp without a UTC offset: {text!r}")
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def as_utc(t: datetime | date) -> datetime:
    """A date means its midnight UTC; an aware datetime is converted to UTC; naive is refused."""
    if not isinstance(t, datetime):
        return datetime.combine(t, time(0), tzinfo=UTC)
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: give a timezone (UTC)")
    return t.astimezone(UTC)


def _combine(a: SignalPoint, b: SignalPoint, keep: Keep) -> SignalPoint:
    if a.end != b.end:
        raise SourceError(f"{a.zone}: two periods start at {a.start.isoformat()} but end at "
                          f"{a.end.isoformat()} and {b.end.isoformat()}")
    merged: dict[str, float | None] = {}
    for f in VALUE_FIELDS:
        va, vb = getattr(a, f), getattr(b, f)
        if va is None or vb is None or va == vb:
            merged[f] = vb if va is None else va
        elif keep == "error":
            raise SourceError(f"{a.zone}: conflicting {f} at {a.start.isoformat()}: {va} vs {vb}")
        else:
            merged[f] = va if keep == "first" else vb
    sources = a.source if b.source in a.source.split("+") else f"{a.source}+{b.source}"
    return replace(a, source=sources, **merged)


def dedupe(points: Iterable[SignalPoint], *, keep: Keep = "first") -> list[SignalPoint]:
    """One point per (zone, start), sorted by zone then start. Repeats are merged field by field:
    a value beats None, equal values agree, and differing values are resolved by `keep`
    ("first" or "last" occurrence in the input, or "error" to refuse)."""
    by_key: dict[tuple[str, datetime], SignalPoint] = {}
    for p in points:
        k = (p.zone, p.start)
        by_key[k] = p if k not in by_key else _combine(by_key[k], p, keep)
    return [by_key[k] for k in sorted(by_key)]


def slot_count(start: datetime, end: datetime, slot: timedelta) -> int:
    n, rest = divmod(end - start, slot)
    if rest or n <= 0:
        raise ValueError(f"[{start}, {end}) is not a positive whole number of {slot} slots")
    return n


def align(points: Iterable[SignalPoint], start: datetime | date, end: datetime | date,
          slot: timedelta = HALF_HOUR, *, zones: Iterable[str] = (),
          keep: Keep = "error") -> dict[str, list[SignalPoint | None]]:
    """Per zone, one entry per slot of [start, end): the merge of every point covering that slot
    (a carbon series and a price series for the same zone become one point), or None where no
    point covers it. A point spanning several whole slots (an hourly value on a half-hour grid)
    covers each of them with its value; points outside [start, end) are dropped; a point not on
    the grid (misaligned, or shorter than a slot) is refused. Zones in `zones` appear even with
    no points. Conflicting values for one slot are refused unless `keep` says otherwise."""
    t0, t1 = as_utc(start), as_utc(end)
    n = slot_count(t0, t1, slot)
    out: dict[str, list[SignalPoint | None]] = {z: [None] * n for z in zones}
    for p in points:
        k0, r0 = divmod(p.start - t0, slot)
        k1, r1 = divmod(p.end - t0, slot)
        if r0 or r1:
            raise SourceError(f"{p.zone}: period {p.start.isoformat()}–{p.end.isoformat()} "
                              f"({p.source}) is not on the {slot} grid starting {t0.isoformat()}")
        row = out.setdefault(p.zone, [None] * n)
        for k in range(max(k0, 0), min(k1, n)):
            piece = replace(p, start=t0 + k * slot, end=t0 + (k + 1) * slot)
            row[k] = piece if row[k] is None else _combine(row[k], piece, keep)
    return out


@dataclass(frozen=True)
class Filled:
    """A gap-free series and what it took: slots with at least one value filled, and per field."""

    series: list[SignalPoint]
    filled_slots: int
    filled_by_field: dict[str, int] = field(default_factory=dict)


def fill_gaps(series: Sequence[SignalPoint | None], max_gap_slots: int,
              method: FillMethod = "previous", *,
              fields: Sequence[str] = VALUE_FIELDS) -> Filled:
    """Fill missing slots of one zone's aligned series (from `align`), field by field.

    A slot is missing for a field when the slot is None or its value is None. A field with no
    value anywhere in the series is absent, not a gap, and stays None. Each run of missing slots
    is filled with the last value before it ("previous") or by linear interpolation between the
    values either side ("linear"; a run at the end has nothing after it and holds the last
    value). A run longer than `max_gap_slots`, or at the very start (no earlier value: filling
    it would look ahead), raises GapTooLongError. Filled points get `source` "<method>-fill"
    when the whole slot was missing, "<source>+<method>-fill" when one field was."""
    if max_gap_slots < 0:
        raise ValueError("max_gap_slots must be >= 0")
    if method not in ("previous", "linear"):
        raise ValueError(f"unknown fill method {method!r}: 'previous' or 'linear'")
    known = [p for p in series if p is not None]
    if not any(getattr(p, f) is not None for p in known for f in fields):
        raise SourceError("series has no values at all: nothing to fill from")
    ref = known[0]
    i_ref = next(i for i, p in enumerate(series) if p is not None)
    step = ref.end - ref.start
    zone = ref.zone
    for i, p in enumerate(series):
        if p is not None and (p.zone != zone or p.start != ref.start + (i - i_ref) * step
                              or p.end - p.start != step):
            raise SourceError(f"series is not one zone on a regular grid at index {i}: "
                              f"{p.zone} {p.start.isoformat()} (use align first)")
    values = {f: [None if p is None else getattr(p, f) for p in series] for f in fields}
    touched: set[int] = set()
    counts: dict[str, int] = {}
    for f, col in values.items():
        counts[f] = 0
        if all(v is None for v in col):
            continue
        i = 0
        while i < len(col):
            if col[i] is not None:
                i += 1
                continue
            j = i
            while j < len(col) and col[j] is None:
                j += 1
            run = j - i
            at = ref.start + (i - i_ref) * step
            if i == 0:
                raise GapTooLongError(zone, f, at, run, "no earlier value to fill from")
            if run > max_gap_slots:
                raise GapTooLongError(zone, f, at, run,
                                      f"longer than max_gap_slots={max_gap_slots}")
            before = col[i - 1]
            after = col[j] if j < len(col) else None
            for k in range(run):
                if method == "linear" and after is not None:
                    col[i + k] = before + (after - before) * (k + 1) / (run + 1)
                else:
                    col[i + k] = before
                touched.add(i + k)
            counts[f] += run
            i = j
    out: list[SignalPoint] = []
    for i, p in enumerate(series):
        new = {f: values[f][i] for f in fields}
        if p is None:
            t = ref.start + (i - i_ref) * step
            blank = SignalPoint(zone=zone, start=t, end=t + step, carbon_g_per_kwh=None,
                                price_gbp_per_kwh=None, source=f"{method}-fill")
            out.append(replace(blank, **new))
        elif i in touched:
            out.append(replace(p, source=f"{p.source}+{method}-fill", **new))
        else:
            out.append(p)
    return Filled(out, len(touched), counts)
