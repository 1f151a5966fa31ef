"""Read Octopus Agile-style half-hourly price CSVs (p/kWh incl. VAT) as £/kWh SignalPoints."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from services.grid_signal.sources.model import (
    HALF_HOUR,
    Keep,
    SignalPoint,
    SourceError,
    dedupe,
    parse_utc,
)

VAT_RATE = 0.05
"""Domestic electricity VAT in GB; Agile unit rates are published including it."""

REGION_ZONES: Mapping[str, str] = {"A": "UK-EAST", "G": "UK-NW"}
"""Agile regions (GSP groups): A = Eastern England (Cambridge), G = North West (Manchester)."""


def _rows(lines: str | Iterable[str]) -> csv.DictReader:
    return csv.DictReader(lines.splitlines() if isinstance(lines, str) else lines)


def _require(reader: csv.DictReader, columns: Iterable[str], what: str) -> None:
    have = set(reader.fieldnames or ())
    missing = [c for c in columns if c not in have]
    if missing:
        raise SourceError(f"{what}: missing column(s) {missing}; header is {reader.fieldnames}")


def pence_to_gbp(p_per_kwh: str | None, *, strip_vat: bool = False, vat_rate: float = VAT_RATE,
                 where: str = "") -> float | None:
    """`p_per_kwh` (incl. VAT) as £/kWh, without VAT when `strip_vat`; empty means no value.
    Negative prices are real on Agile and kept."""
    if p_per_kwh is None or not p_per_kwh.strip():
        return None
    try:
        p = float(p_per_kwh)
    except ValueError as e:
        raise SourceError(f"{where}: price {p_per_kwh!r} is not a number") from e
    if strip_vat:
        p /= 1 + vat_rate
    return round(p / 100, 8)


def _column(region: str, header: Iterable[str]) -> str:
    for name in (f"{region}_derived_p_per_kwh", f"{region}_real_p_per_kwh"):
        if name in header:
            return name
    raise SourceError(f"no price column for Agile region {region!r} in {list(header)}")


def parse_agile_derived(lines: str | Iterable[str], *,
                        regions: Mapping[str, str] = REGION_ZONES, strip_vat: bool = False,
                        vat_rate: float = VAT_RATE, keep: Keep = "error") -> list[SignalPoint]:
    """The shared derived-Agile CSV (`from_utc, is_peak_16_19_local, J_real_p_per_kwh,
    A_derived_p_per_kwh, G_derived_p_per_kwh`; p/kWh incl. VAT; half-hours starting at
    `from_utc`, UTC) as price points per zone: region letter → zone from `regions`
    (default A → UK-EAST, G → UK-NW; "J" reads the real region-J column). An empty cell is a
    gap (price None)."""
    reader = _rows(lines)
    _require(reader, ("from_utc",), "derived Agile CSV")
    cols = [(region, zone, _column(region, reader.fieldnames or ()))
            for region, zone in regions.items()]
    out = []
    for row in reader:
        where = f"line {reader.line_num}"
        start = parse_utc(row["from_utc"], naive_is_utc=True)
        for region, zone, col in cols:
            out.append(SignalPoint(
                zone=zone, start=start, end=start + HALF_HOUR, carbon_g_per_kwh=None,
                price_gbp_per_kwh=pence_to_gbp(row[col], strip_vat=strip_vat, vat_rate=vat_rate,
                                               where=where),
                source=f"agile-derived:{region}"))
    return dedupe(out, keep=keep)


def parse_agile_export(lines: str | Iterable[str], zone: str, *, strip_vat: bool = False,
                       vat_rate: float = VAT_RATE, keep: Keep = "error") -> list[SignalPoint]:
    """An Octopus Agile export for one region as price points for `zone`. Two headers:
    `timestamp, price` (energy-stats style: period start, p/kWh incl. VAT, 30-min periods) or
    the Octopus API's `valid_from, valid_to, value_inc_vat` (and optionally `value_exc_vat`,
    used as is when `strip_vat`; an empty `valid_to` means 30 minutes)."""
    reader = _rows(lines)
    header = set(reader.fieldnames or ())
    if {"timestamp", "price"} <= header:
        start_col, end_col, price_col = "timestamp", None, "price"
    elif {"valid_from", "value_inc_vat"} <= header:
        start_col, end_col, price_col = "valid_from", "valid_to", "value_inc_vat"
    else:
        raise SourceError(f"Agile export: expected `timestamp, price` or `valid_from, valid_to, "
                          f"value_inc_vat`; header is {reader.fieldnames}")
    exc_vat = strip_vat and "value_exc_vat" in header
    out = []
    for row in reader:
        where = f"line {reader.line_num}"
        start = parse_utc(row[start_col], naive_is_utc=True)
        raw_end = row.get(end_col) if end_col else None
        end = parse_utc(raw_end, naive_is_utc=True) if raw_end and raw_end.strip() else (
            start + HALF_HOUR)
        price = (pence_to_gbp(row["value_exc_vat"], where=where) if exc_vat else
                 pence_to_gbp(row[price_col], strip_vat=strip_vat, vat_rate=vat_rate, where=where))
        out.append(SignalPoint(zone=zone, start=start, end=end, carbon_g_per_kwh=None,
                               price_gbp_per_kwh=price, source="agile-export"))
    return dedupe(out, keep=keep)


def read_agile_derived(path: Path, **kwargs) -> list[SignalPoint]:
    with Path(path).open(newline="") as f:
        return parse_agile_derived(f, **kwargs)


def read_agile_export(path: Path, zone: str, **kwargs) -> list[SignalPoint]:
    with Path(path).open(newline="") as f:
        return parse_agile_export(f, zone, **kwargs)
