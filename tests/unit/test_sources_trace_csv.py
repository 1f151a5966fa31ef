"""Replay of the vendored June 2023 traces: the regional CI CSV and the joined per-zone series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.grid_signal.sources.model import GapTooLongError, SourceError
from services.grid_signal.sources.trace_csv import (
    CI_FILE,
    PRICE_FILE,
    TRACES_DIR,
    load_june_2023,
    parse_regional_ci_csv,
)

HH = timedelta(minutes=30)
T0 = datetime(2023, 6, 5, tzinfo=UTC)
HEADER = "window,from_utc,to_utc,east_england_gco2_per_kwh,north_west_england_gco2_per_kwh\n"


def test_ci_csv_rows_become_carbon_points_per_zone() -> None:
    text = HEADER + ("summer2023,2023-06-05T00:00Z,2023-06-05T00:30Z,102,51\n"
                     "summer2023,2023-06-05T00:30Z,2023-06-05T01:00Z,93,\n")
    pts = parse_regional_ci_csv(text)
    got = {(p.zone, p.start): p.carbon_g_per_kwh for p in pts}
    assert got == {("UK-EAST", T0): 102.0, ("UK-NW", T0): 51.0,
                   ("UK-EAST", T0 + HH): 93.0, ("UK-NW", T0 + HH): None}
    assert all(p.price_gbp_per_kwh is None and p.end - p.start == HH for p in pts)


def test_ci_csv_refuses_a_wrong_header_and_bad_cells() -> None:
    with pytest.raises(SourceError, match="north_west_england_gco2_per_kwh"):
        parse_regional_ci_csv("window,from_utc,to_utc,east_england_gco2_per_kwh\n")
    with pytest.raises(SourceError, match="line 2"):
        parse_regional_ci_csv(HEADER + "summer2023,2023-06-05T00:00Z,2023-06-05T00:30Z,x,51\n")


def test_vendored_ci_file_is_the_whole_june_trace() -> None:
    with (TRACES_DIR / CI_FILE).open(newline="") as f:
        pts = parse_regional_ci_csv(f)
    assert len(pts) == 2 * 1104
    assert pts[0].start == T0 and pts[-1].end == datetime(2023, 6, 28, tzinfo=UTC)


def test_load_june_2023_joins_carbon_and_price_per_half_hour() -> None:
    day = load_june_2023(date(2023, 6, 5), date(2023, 6, 6))
    assert set(day) == {"UK-EAST", "UK-NW"}
    east, nw = day["UK-EAST"], day["UK-NW"]
    assert len(east) == len(nw) == 48
    assert [p.start for p in east] == [T0 + i * HH for i in range(48)]
    assert (east[0].carbon_g_per_kwh, nw[0].carbon_g_per_kwh) == (102.0, 51.0)
    assert east[0].price_gbp_per_kwh == pytest.approx(0.130095)
    # 15:00 UTC is in the 16–19 local peak, where A's adder is 1 p above G's (1.05 p with VAT).
    assert east[30].price_gbp_per_kwh == pytest.approx(0.289948)
    assert nw[30].price_gbp_per_kwh == pytest.approx(0.279448)
    assert east[0].source == "trace-csv:east_england_gco2_per_kwh+agile-derived:A"
    assert all(p.renewable_pct is None for p in east)


def test_load_june_2023_over_the_whole_range_with_vat_stripped() -> None:
    whole = load_june_2023(T0, datetime(2023, 6, 28, tzinfo=UTC), strip_vat=True)
    assert len(whole["UK-EAST"]) == 23 * 48
    assert whole["UK-EAST"][0].price_gbp_per_kwh == pytest.approx(0.130095 / 1.05)
    last = whole["UK-NW"][-1]
    assert (last.start, last.carbon_g_per_kwh) == (datetime(2023, 6, 27, 23, 30, tzinfo=UTC),
                                                   55.0)


def test_load_june_2023_refuses_ranges_outside_the_traces() -> None:
    with pytest.raises(ValueError, match="inside the vendored traces"):
        load_june_2023(date(2023, 6, 4), date(2023, 6, 6))
    with pytest.raises(ValueError, match="inside the vendored traces"):
        load_june_2023(date(2023, 6, 27), date(2023, 6, 29))
    with pytest.raises(ValueError, match="whole number"):
        load_june_2023(T0, T0 + timedelta(minutes=45))


def test_load_june_2023_fills_short_gaps_and_refuses_long_ones(tmp_path) -> None:
    lines = (TRACES_DIR / CI_FILE).read_text().splitlines(keepends=True)
    (tmp_path / PRICE_FILE).write_text((TRACES_DIR / PRICE_FILE).read_text())
    # Drop 01:00 and 01:30 of 5 June (data lines 3 and 4) from the carbon file.
    (tmp_path / CI_FILE).write_text("".join(lines[:3] + lines[5:]))
    day = load_june_2023(T0, T0 + 8 * HH, traces_dir=tmp_path, max_gap_slots=2)
    assert [p.carbon_g_per_kwh for p in day["UK-EAST"]][:5] == [102, 93, 93, 93, 59]
    assert day["UK-EAST"][2].source == "agile-derived:A+previous-fill"
    with pytest.raises(GapTooLongError, match="UK-EAST: carbon_g_per_kwh missing for 2 slot"):
        load_june_2023(T0, T0 + 8 * HH, traces_dir=tmp_path, max_gap_slots=1)
