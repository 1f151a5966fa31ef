"""The Carbon Intensity API regional parser on responses reconstructed in the API's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.grid_signal.sources.carbon_intensity_api import (
    CarbonIntensityApiError,
    parse_regional,
    regional_url,
    renewable_share,
)
from services.grid_signal.sources.model import SourceError, align, fill_gaps

FIXTURES = Path(__file__).parent / "fixtures" / "carbon_intensity_api"
T0 = datetime(2023, 6, 5, tzinfo=UTC)
HH = timedelta(minutes=30)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_region_range_shape_gives_real_first_half_hours_of_5_june() -> None:
    east = parse_regional(load("regionid_10_range_2023-06-05.json"))
    nw = parse_regional(load("regionid_3_range_2023-06-05.json"))
    assert [p.zone for p in east] == ["UK-EAST"] * 12
    assert [p.zone for p in nw] == ["UK-NW"] * 12
    assert (east[0].start, east[0].end) == (T0, T0 + HH)
    assert east[0].carbon_g_per_kwh == 102.0
    assert nw[0].carbon_g_per_kwh == 51.0
    assert [p.carbon_g_per_kwh for p in east[:4]] == [102.0, 93.0, 89.0, 70.0]
    assert east[-1].start == T0 + 11 * HH and east[-1].carbon_g_per_kwh == 83.0
    assert east[0].price_gbp_per_kwh is None
    assert east[0].source == "carbon-intensity-api:region-10"


def test_renewable_share_counts_biomass_only_when_asked() -> None:
    doc = load("regionid_10_range_2023-06-05.json")
    assert parse_regional(doc)[0].renewable_pct == pytest.approx(54.1)
    assert parse_regional(doc, include_biomass=False)[0].renewable_pct == pytest.approx(49.1)
    mix = [{"fuel": "Wind", "perc": 30}, {"fuel": "solar", "perc": 10.5},
           {"fuel": "hydro", "perc": 1}, {"fuel": "biomass", "perc": 6},
           {"fuel": "gas", "perc": 50}]
    assert renewable_share(mix) == pytest.approx(47.5)
    assert renewable_share(mix, include_biomass=False) == pytest.approx(41.5)
    assert renewable_share([]) is None and renewable_share(None) is None


def test_all_regions_shape_keeps_mapped_regions_and_skips_others() -> None:
    pts = parse_regional(load("regional_fw24h_2023-06-05.json"))
    assert {p.zone for p in pts} == {"UK-EAST", "UK-NW"}
    assert len(pts) == 16
    first = {p.zone: p.carbon_g_per_kwh for p in pts if p.start == T0}
    assert first == {"UK-EAST": 102.0, "UK-NW": 51.0}
    london = parse_regional(load("regional_fw24h_2023-06-05.json"), zones={13: "UK-LON"})
    assert [p.carbon_g_per_kwh for p in london][:1] == [120.0]


def test_current_list_shape_by_region() -> None:
    [p] = parse_regional(load("regionid_3_current_list_shape_2023-06-05T12.json"))
    assert (p.zone, p.start, p.carbon_g_per_kwh) == ("UK-NW", T0 + 24 * HH, 73.0)


@pytest.mark.parametrize("name", ["quirk_empty_object.json", "quirk_empty_data.json",
                                  "quirk_region_without_periods.json"])
def test_empty_bodies_give_no_points(name: str) -> None:
    assert parse_regional(load(name)) == []


def test_error_body_raises_with_code_and_message() -> None:
    with pytest.raises(CarbonIntensityApiError, match="400 Bad Request.*valid region ID") as e:
        parse_regional(load("quirk_error_400.json"))
    assert e.value.code == "400 Bad Request"


def test_gaps_nulls_duplicates_and_seconds_survive() -> None:
    pts = parse_regional(load("quirk_gaps_nulls_duplicates_2023-06-05.json"))
    by_start = {p.start: p for p in pts}
    assert len(pts) == len(by_start) == 8
    assert T0 + 2 * HH not in by_start and T0 + 3 * HH not in by_start
    assert by_start[T0 + 4 * HH].carbon_g_per_kwh == 59.0
    assert by_start[T0 + 5 * HH].carbon_g_per_kwh == 64.0
    assert by_start[T0 + 5 * HH].end == T0 + 6 * HH
    null = by_start[T0 + 6 * HH]
    assert null.carbon_g_per_kwh is None and null.renewable_pct is None
    assert by_start[T0 + 8 * HH].carbon_g_per_kwh == 80.0
    assert by_start[T0 + 9 * HH].carbon_g_per_kwh == 82.0


def test_quirk_response_aligns_and_fills_with_a_count() -> None:
    pts = parse_regional(load("quirk_gaps_nulls_duplicates_2023-06-05.json"))
    series = align(pts, T0, T0 + 10 * HH)["UK-EAST"]
    assert [p is None for p in series].count(True) == 2
    filled = fill_gaps(series, max_gap_slots=2, method="linear")
    assert [p.carbon_g_per_kwh for p in filled.series][:7] == pytest.approx(
        [102, 93, 93 - 34 / 3, 93 - 68 / 3, 59, 64, 69])
    assert filled.series[2].source == "linear-fill"
    assert filled.series[6].source == "carbon-intensity-api:region-10+linear-fill"
    assert filled.filled_by_field["carbon_g_per_kwh"] == 3
    assert filled.filled_slots == 3


def test_conflicting_duplicate_is_resolved_by_keep() -> None:
    period = {"from": "2023-06-05T00:00Z", "to": "2023-06-05T00:30Z"}
    doc = {"data": {"regionid": 10, "data": [{**period, "intensity": {"forecast": 102}},
                                             {**period, "intensity": {"forecast": 110}}]}}
    assert parse_regional(doc)[0].carbon_g_per_kwh == 102.0
    assert parse_regional(doc, keep="last")[0].carbon_g_per_kwh == 110.0
    with pytest.raises(SourceError, match="conflicting carbon"):
        parse_regional(doc, keep="error")


def test_unmapped_region_and_national_shape_are_refused() -> None:
    with pytest.raises(SourceError, match="region 13 .* no zone"):
        parse_regional({"data": {"regionid": 13, "shortname": "London", "data": []}})
    national = {"data": [{"from": "2023-06-05T00:00Z", "to": "2023-06-05T00:30Z",
                          "intensity": {"forecast": 120, "actual": 118, "index": "moderate"}}]}
    with pytest.raises(SourceError, match="not a regional response"):
        parse_regional(national)


def test_regional_url_formats_utc_minutes_and_refuses_long_ranges() -> None:
    bst = timezone(timedelta(hours=1))
    url = regional_url(10, datetime(2023, 6, 5, 1, 0, tzinfo=bst), T0 + timedelta(days=1))
    assert url == ("https://api.carbonintensity.org.uk/regional/intensity/"
                   "2023-06-05T00:00Z/2023-06-06T00:00Z/regionid/10")
    with pytest.raises(ValueError, match="14-day"):
        regional_url(3, T0, T0 + timedelta(days=15))
    with pytest.raises(ValueError):
        regional_url(3, T0, T0)
