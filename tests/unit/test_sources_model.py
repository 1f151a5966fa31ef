"""SignalPoint, timestamps, deduplication, alignment across zones and gap filling."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.grid_signal.sources.model import (
    GapTooLongError,
    SignalPoint,
    SourceError,
    align,
    dedupe,
    fill_gaps,
    parse_utc,
)

HH = timedelta(minutes=30)
T0 = datetime(2023, 6, 5, tzinfo=UTC)


def pt(zone: str, i: int, *, co2: float | None = None, price: float | None = None,
       ren: float | None = None, slots: int = 1, source: str = "test") -> SignalPoint:
    return SignalPoint(zone=zone, start=T0 + i * HH, end=T0 + (i + slots) * HH,
                       carbon_g_per_kwh=co2, price_gbp_per_kwh=price, renewable_pct=ren,
                       source=source)


def test_parse_utc_accepts_the_formats_seen_in_the_sources() -> None:
    for text in ("2023-06-05T00:00Z", "2023-06-05T00:00:00Z", "2023-06-05 00:00:00+00:00",
                 "2023-06-05T01:00+01:00"):
        assert parse_utc(text) == T0
    assert parse_utc("2023-06-05T00:00", naive_is_utc=True) == T0
    with pytest.raises(SourceError, match="without a UTC offset"):
        parse_utc("2023-06-05T00:00")
    with pytest.raises(SourceError, match="not an ISO 8601"):
        parse_utc("5 June")


def test_signal_point_requires_utc_and_a_positive_span() -> None:
    with pytest.raises(ValueError, match="UTC"):
        SignalPoint(zone="Z", start=datetime(2023, 6, 5), end=T0 + HH, carbon_g_per_kwh=1,
                    price_gbp_per_kwh=None, source="t")
    with pytest.raises(ValueError, match="not after"):
        SignalPoint(zone="Z", start=T0, end=T0, carbon_g_per_kwh=1, price_gbp_per_kwh=None,
                    source="t")


def test_dedupe_merges_repeats_and_sorts() -> None:
    pts = [pt("B", 1, co2=5), pt("A", 0, co2=1), pt("B", 1, co2=5), pt("B", 0, co2=None),
           pt("B", 0, co2=7)]
    out = dedupe(pts)
    assert [(p.zone, p.start, p.carbon_g_per_kwh) for p in out] == [
        ("A", T0, 1), ("B", T0, 7), ("B", T0 + HH, 5)]
    with pytest.raises(SourceError, match="conflicting"):
        dedupe([pt("A", 0, co2=1), pt("A", 0, co2=2)], keep="error")
    with pytest.raises(SourceError, match="end at"):
        dedupe([pt("A", 0, co2=1), pt("A", 0, co2=1, slots=2)])


def test_align_merges_carbon_and_price_per_zone_on_one_grid() -> None:
    pts = [pt("UK-EAST", 0, co2=102, source="ci"), pt("UK-EAST", 0, price=0.13, source="agile"),
           pt("UK-NW", 0, co2=51), pt("UK-NW", 1, co2=58),
           pt("UK-EAST", 2, price=0.2), pt("UK-EAST", 9, co2=1)]
    grid = align(pts, T0, T0 + 3 * HH, zones=["UK-EAST", "UK-NW", "UK-SE"])
    assert set(grid) == {"UK-EAST", "UK-NW", "UK-SE"}
    east = grid["UK-EAST"]
    assert (east[0].carbon_g_per_kwh, east[0].price_gbp_per_kwh) == (102, 0.13)
    assert east[0].source == "ci+agile"
    assert east[1] is None and east[2].price_gbp_per_kwh == 0.2
    assert [p and p.carbon_g_per_kwh for p in grid["UK-NW"]] == [51, 58, None]
    assert grid["UK-SE"] == [None, None, None]


def test_align_spreads_a_longer_period_and_refuses_off_grid_points() -> None:
    hourly = pt("Z", 0, co2=100, slots=2)
    row = align([hourly], T0, T0 + 2 * HH)["Z"]
    assert [(p.start, p.end, p.carbon_g_per_kwh) for p in row] == [
        (T0, T0 + HH, 100), (T0 + HH, T0 + 2 * HH, 100)]
    odd = SignalPoint(zone="Z", start=T0 + timedelta(minutes=15), end=T0 + timedelta(minutes=45),
                      carbon_g_per_kwh=1, price_gbp_per_kwh=None, source="t")
    with pytest.raises(SourceError, match="not on the"):
        align([odd], T0, T0 + 2 * HH)
    with pytest.raises(SourceError, match="conflicting"):
        align([pt("Z", 0, co2=1), pt("Z", 0, co2=2)], T0, T0 + HH)
    assert align([], date(2023, 6, 5), date(2023, 6, 6), zones=["Z"])["Z"] == [None] * 48


def test_fill_previous_counts_slots_and_fields() -> None:
    series = [pt("Z", 0, co2=10, price=0.1), None, pt("Z", 2, co2=None, price=0.3),
              pt("Z", 3, co2=40, price=0.4), None]
    f = fill_gaps(series, max_gap_slots=2)
    assert [p.carbon_g_per_kwh for p in f.series] == [10, 10, 10, 40, 40]
    assert [p.price_gbp_per_kwh for p in f.series] == [0.1, 0.1, 0.3, 0.4, 0.4]
    assert [p.start for p in f.series] == [T0 + i * HH for i in range(5)]
    assert f.filled_slots == 3
    assert f.filled_by_field == {"carbon_g_per_kwh": 3, "price_gbp_per_kwh": 2,
                                 "renewable_pct": 0}
    assert [p.source for p in f.series] == [
        "test", "previous-fill", "test+previous-fill", "test", "previous-fill"]
    assert all(p.renewable_pct is None for p in f.series)


def test_fill_linear_interpolates_inside_and_holds_at_the_end() -> None:
    series = [pt("Z", 0, co2=10), None, None, pt("Z", 3, co2=40), None]
    assert [p.carbon_g_per_kwh for p in fill_gaps(series, 2, "linear").series] == [
        10, 20, 30, 40, 40]


def test_fill_refuses_long_gaps_leading_gaps_and_empty_series() -> None:
    series = [pt("Z", 0, co2=10), None, None, None, pt("Z", 4, co2=50)]
    with pytest.raises(GapTooLongError, match="missing for 3 slot.*max_gap_slots=2") as e:
        fill_gaps(series, max_gap_slots=2)
    assert (e.value.zone, e.value.field_name, e.value.start, e.value.slots) == (
        "Z", "carbon_g_per_kwh", T0 + HH, 3)
    assert fill_gaps(series, max_gap_slots=3).filled_slots == 3
    with pytest.raises(GapTooLongError, match="no earlier value") as e:
        fill_gaps([None, pt("Z", 1, co2=1)], max_gap_slots=5)
    assert e.value.start == T0
    with pytest.raises(SourceError, match="no values"):
        fill_gaps([None, pt("Z", 1)], max_gap_slots=5)
    with pytest.raises(ValueError, match="unknown fill method"):
        fill_gaps([pt("Z", 0, co2=1)], 1, "spline")  # type: ignore[arg-type]


def test_fill_refuses_a_series_that_is_not_aligned() -> None:
    with pytest.raises(SourceError, match="regular grid"):
        fill_gaps([pt("Z", 0, co2=1), pt("Z", 5, co2=2)], 1)
