"""Agile price CSVs: the derived A/G file and Octopus export styles, in £/kWh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.grid_signal.sources.agile import parse_agile_derived, parse_agile_export
from services.grid_signal.sources.model import SourceError

HH = timedelta(minutes=30)

# Real rows of agile_A_G_2023_derived.csv (data/traces/SOURCES.md); the last two from January,
# where Agile went negative.
DERIVED = """from_utc,is_peak_16_19_local,J_real_p_per_kwh,A_derived_p_per_kwh,G_derived_p_per_kwh
2023-06-05T00:00Z,0,13.6290,13.0095,13.0095
2023-06-05T15:00Z,1,28.6755,28.9948,27.9448
2023-01-01T03:30Z,0,-5.3550,-5.1116,-5.1116
2023-01-01T04:30Z,0,-3.4650,-3.3075,-3.3075
"""


def by_zone_start(points):
    return {(p.zone, p.start): p for p in points}


def test_derived_rows_become_gbp_per_kwh_per_zone() -> None:
    pts = by_zone_start(parse_agile_derived(DERIVED))
    t = datetime(2023, 6, 5, 15, 0, tzinfo=UTC)
    east, nw = pts[("UK-EAST", t)], pts[("UK-NW", t)]
    assert east.price_gbp_per_kwh == pytest.approx(0.289948)
    assert nw.price_gbp_per_kwh == pytest.approx(0.279448)
    assert (east.start, east.end) == (t, t + HH)
    assert east.carbon_g_per_kwh is None and east.source == "agile-derived:A"
    assert len(pts) == 8


def test_derived_a_price_matches_the_agile_formula_from_the_real_j_rate() -> None:
    # 2023-06-05 15:00 UTC is 16:00 BST, in the peak. Agile incl. VAT = 1.05 × (D × W + P) with
    # W the wholesale price: region J has D = 2.2, P = 12 p; region A has D = 2.1, P = 13 p
    # (the multipliers and adders consistent with the file). W = (28.6755 / 1.05 − 12) / 2.2.
    wholesale = (28.6755 / 1.05 - 12) / 2.2
    a_pence = 1.05 * (2.1 * wholesale + 13)
    assert a_pence == pytest.approx(28.99480, abs=1e-5)
    pts = by_zone_start(parse_agile_derived(DERIVED))
    got = pts[("UK-EAST", datetime(2023, 6, 5, 15, 0, tzinfo=UTC))].price_gbp_per_kwh
    assert got == pytest.approx(a_pence / 100, abs=1e-6)
    off_peak = pts[("UK-EAST", datetime(2023, 6, 5, tzinfo=UTC))].price_gbp_per_kwh
    assert off_peak == pytest.approx(13.6290 * 2.1 / 2.2 / 100, abs=1e-6)


def test_vat_is_stripped_on_request() -> None:
    pts = by_zone_start(parse_agile_derived(DERIVED, strip_vat=True))
    p = pts[("UK-EAST", datetime(2023, 6, 5, 15, 0, tzinfo=UTC))].price_gbp_per_kwh
    assert p == pytest.approx(28.9948 / 1.05 / 100)
    assert p == pytest.approx(0.27614095, abs=1e-8)


def test_negative_prices_are_kept() -> None:
    pts = by_zone_start(parse_agile_derived(DERIVED))
    assert pts[("UK-EAST", datetime(2023, 1, 1, 3, 30, tzinfo=UTC))].price_gbp_per_kwh == (
        pytest.approx(-0.051116))
    pts = by_zone_start(parse_agile_derived(DERIVED, strip_vat=True))
    assert pts[("UK-NW", datetime(2023, 1, 1, 4, 30, tzinfo=UTC))].price_gbp_per_kwh == (
        pytest.approx(-0.033075 / 1.05))


def test_region_j_and_custom_mapping() -> None:
    pts = parse_agile_derived(DERIVED, regions={"J": "UK-SE"})
    assert {p.zone for p in pts} == {"UK-SE"}
    assert pts[-1].price_gbp_per_kwh == pytest.approx(0.286755)


def test_export_timestamp_price_style() -> None:
    text = ("timestamp,price\n"
            "2023-07-01 09:30:00+00:00,-0.0735\n"
            "2023-07-01 10:00:00+00:00,1.2\n"
            "2023-07-01 10:30:00+00:00,-0.504\n")
    pts = parse_agile_export(text, "UK-SE")
    assert [p.price_gbp_per_kwh for p in pts] == pytest.approx([-0.000735, 0.012, -0.00504])
    assert pts[0].start == datetime(2023, 7, 1, 9, 30, tzinfo=UTC)
    assert pts[0].end == pts[1].start


def test_export_octopus_api_style_with_and_without_exc_vat() -> None:
    text = ("value_exc_vat,value_inc_vat,valid_from,valid_to\n"
            "12.39,13.0095,2023-06-05T00:00:00Z,2023-06-05T00:30:00Z\n"
            "-4.868,-5.1114,2023-06-05T00:30:00Z,\n")
    pts = parse_agile_export(text, "UK-EAST")
    assert [p.price_gbp_per_kwh for p in pts] == pytest.approx([0.130095, -0.051114])
    assert pts[1].end == pts[1].start + HH
    assert [p.price_gbp_per_kwh for p in parse_agile_export(text, "UK-EAST", strip_vat=True)] == (
        pytest.approx([0.1239, -0.04868]))
    no_exc = "valid_from,valid_to,value_inc_vat\n2023-06-05T00:00Z,2023-06-05T00:30Z,21.0\n"
    [p] = parse_agile_export(no_exc, "UK-EAST", strip_vat=True)
    assert p.price_gbp_per_kwh == pytest.approx(0.20)


def test_duplicates_merge_and_conflicts_are_refused() -> None:
    dup = DERIVED + "2023-06-05T00:00Z,0,13.6290,13.0095,13.0095\n"
    assert len(parse_agile_derived(dup)) == 8
    clash = DERIVED + "2023-06-05T00:00Z,0,13.6290,14.0000,13.0095\n"
    with pytest.raises(SourceError, match="conflicting price"):
        parse_agile_derived(clash)
    assert len(parse_agile_derived(clash, keep="last")) == 8


def test_empty_cell_is_a_gap_and_bad_rows_are_refused() -> None:
    text = "timestamp,price\n2023-07-01 09:30:00+00:00,\n"
    [p] = parse_agile_export(text, "UK-SE")
    assert p.price_gbp_per_kwh is None
    with pytest.raises(SourceError, match="line 2.*'n/a'"):
        parse_agile_export("timestamp,price\n2023-07-01 09:30:00+00:00,n/a\n", "UK-SE")
    with pytest.raises(SourceError, match="expected `timestamp, price`"):
        parse_agile_export("when,cost\n", "UK-SE")
    with pytest.raises(SourceError, match="region 'C'"):
        parse_agile_derived(DERIVED, regions={"C": "UK-LON"})
