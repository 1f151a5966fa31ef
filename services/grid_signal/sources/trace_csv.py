"""Replay real traces: the regional carbon intensity CSV, and the vendored June 2023 carbon and
price slices joined into aligned per-zone series."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from services.grid_signal.sources.agile import read_agile_derived
from services.grid_signal.sources.model import (
    HALF_HOUR,
    FillMethod,
    Keep,
    SignalPoint,
    SourceError,
    align,
    as_utc,
    dedupe,
    fill_gaps,
    parse_utc,
)

TRACES_DIR = Path(__file__).resolve().parents[3] / "data" / "traces"
CI_FILE = "gb_regional_ci_east_vs_north_west_2023-06.csv"
PRICE_FILE = "agile_A_G_2023-06-05_2023-06-28_derived.csv"

CI_COLUMNS: Mapping[str, str] = {"east_england_gco2_per_kwh": "UK-EAST",
                                 "north_west_england_gco2_per_kwh": "UK-NW"}
ZONES = ("UK-EAST", "UK-NW")
JUNE_2023_START = datetime(2023, 6, 5, tzinfo=UTC)
JUNE_2023_END = datetime(2023, 6, 28, tzinfo=UTC)
"""The vendored carbon slice covers [JUNE_2023_START, JUNE_2023_END); prices run a day longer."""


def parse_regional_ci_csv(lines: str | Iterable[str], *,
                          columns: Mapping[str, str] = CI_COLUMNS,
                          keep: Keep = "error") -> list[SignalPoint]:
    """The regional carbon intensity CSV (`window, from_utc, to_utc,
    east_england_gco2_per_kwh, north_west_england_gco2_per_kwh`; gCO2/kWh, UTC) as carbon points,
    one per row and mapped column (column → zone from `columns`). An empty cell is a gap."""
    reader = csv.DictReader(lines.splitlines() if isinstance(lines, str) else lines)
    have = set(reader.fieldnames or ())
    missing = [c for c in ("from_utc", "to_utc", *columns) if c not in have]
    if missing:
        raise SourceError(f"regional CI CSV: missing column(s) {missing}; header is "
                          f"{reader.fieldnames}")
    out = []
    for row in reader:
        start = parse_utc(row["from_utc"], naive_is_utc=True)
        end = parse_utc(row["to_utc"], naive_is_utc=True)
        for col, zone in columns.items():
            cell = (row[col] or "").strip()
            try:
                value = float(cell) if cell else None
            except ValueError as e:
                raise SourceError(f"line {reader.line_num}: {col} {cell!r} is not a number") from e
            out.append(SignalPoint(zone=zone, start=start, end=end, carbon_g_per_kwh=value,
                                   price_gbp_per_kwh=None, source=f"trace-csv:{col}"))
    return dedupe(out, keep=keep)


def read_regional_ci_csv(path: Path, **kwargs) -> list[SignalPoint]:
    with Path(path).open(newline="") as f:
        return parse_regional_ci_csv(f, **kwargs)


@lru_cache(maxsize=8)
def _june_points(folder: Path, strip_vat: bool) -> tuple[SignalPoint, ...]:
    """Both vendored slices, parsed once per folder and VAT choice (points are immutable)."""
    return (*read_regional_ci_csv(folder / CI_FILE),
            *read_agile_derived(folder / PRICE_FILE, strip_vat=strip_vat))


def load_june_2023(start: datetime | date, end: datetime | date, *,
                   traces_dir: Path | None = None, strip_vat: bool = False,
                   max_gap_slots: int = 4, method: FillMethod = "previous",
                   ) -> dict[str, list[SignalPoint]]:
    """Real June 2023 signals for UK-EAST (East England, Agile region A) and UK-NW (North West
    England, Agile region G): one SignalPoint per half-hour of [start, end), each with carbon
    (gCO2/kWh, the regional forecast) and price (£/kWh, incl. VAT unless `strip_vat`);
    renewable_pct is None (the traces carry no mix).

    `start`/`end` are aware datetimes on the half-hour (or dates, meaning midnight UTC) within
    [2023-06-05T00:00Z, 2023-06-28T00:00Z]. Reads only the vendored slices in `traces_dir`
    (default data/traces). Gaps up to `max_gap_slots` are filled by `method` (the vendored
    slices have none); longer ones raise GapTooLongError."""
    t0, t1 = as_utc(start), as_utc(end)
    if not JUNE_2023_START <= t0 < t1 <= JUNE_2023_END:
        raise ValueError(f"[{t0.isoformat()}, {t1.isoformat()}) is not a non-empty range inside "
                         f"the vendored traces [{JUNE_2023_START.isoformat()}, "
                         f"{JUNE_2023_END.isoformat()})")
    folder = (TRACES_DIR if traces_dir is None else Path(traces_dir)).resolve()
    points = _june_points(folder, strip_vat)
    out: dict[str, list[SignalPoint]] = {}
    for zone, series in align(points, t0, t1, HALF_HOUR, zones=ZONES).items():
        filled = fill_gaps(series, max_gap_slots, method).series
        for p in filled:
            if p.carbon_g_per_kwh is None or p.price_gbp_per_kwh is None:
                what = "carbon" if p.carbon_g_per_kwh is None else "price"
                raise SourceError(f"{zone}: no {what} at {p.start.isoformat()} in {folder}")
        out[zone] = filled
    return out
