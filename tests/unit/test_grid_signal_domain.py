"""GridFlexAgent's rules: signals in force per period, windows on offer, capacity left."""

from __future__ import annotations

import pytest

from services.grid_signal.domain import (
    LineRequest,
    Window,
    capacity_shortfalls,
    offered_windows,
    stress_at,
    zone_signals,
)

from .factories import EAST_10_14, EAST_14_18, NW_14_18, STRESS_ID, at, scenario, seed, seed_doc


def _windows() -> dict[str, Window]:
    return {w.item_id: w for w in offered_windows(seed())}


def test_the_east_morning_window_averages_its_three_forecast_blocks() -> None:
    w = _windows()[EAST_10_14]

    assert (w.zone, w.area, w.start, w.end) == ("UK-EAST", "Cambridge-East", at("10:00"),
                                                at("14:00"))
    assert w.renewable_pct == pytest.approx(80.0)  # (78x60 + 80x120 + 82x60) / 240 min
    assert w.carbon_g_per_kwh == pytest.approx(36.0)  # (42x60 + 36x120 + 30x60) / 240
    assert w.price_gbp_per_kwh == pytest.approx(0.102)  # (0.098x60 + 0.102x120 + 0.106x60) / 240
    assert w.capacity_kw == 1500
    assert w.stress_surcharge_gbp_per_kwh == 0.0


def test_the_east_afternoon_window_is_offered_on_its_unstressed_forecast() -> None:
    w = _windows()[EAST_14_18]

    # one block 14:00-18:00 at 62 % / 86 g / £0.102; the 14:00 stress is not forecast
    assert (w.renewable_pct, w.carbon_g_per_kwh) == (pytest.approx(62.0), pytest.approx(86.0))
    assert w.price_gbp_per_kwh == pytest.approx(0.102)
    assert w.stress_surcharge_gbp_per_kwh == pytest.approx(0.03)
    assert w.capacity_kw == 1500


def test_the_north_west_afternoon_window() -> None:
    w = _windows()[NW_14_18]

    assert (w.renewable_pct, w.carbon_g_per_kwh) == (pytest.approx(75.0), pytest.approx(50.0))
    assert w.price_gbp_per_kwh == pytest.approx(0.092)
    assert w.capacity_kw == 1500


def test_window_averages_are_weighted_by_time_in_each_block() -> None:
    doc = seed_doc()
    doc["zones"]["UK-NW"]["windows"] = [{"from": "05:00", "to": "08:00", "capacity_kw": 100}]
    (w,) = [w for w in offered_windows(scenario(doc)) if w.zone == "UK-NW"]

    # 60 min of (50 %, 120 g, £0.070) then 120 min of (52 %, 114 g, £0.105)
    assert w.item_id == "window-uk-nw-0500-0800"
    assert w.renewable_pct == 51.333  # (50x60 + 52x120) / 180 = 51.3333, kept to 3 places
    assert w.carbon_g_per_kwh == 116.0  # (120x60 + 114x120) / 180 = 116
    assert w.price_gbp_per_kwh == 0.093333  # (0.070x60 + 0.105x120) / 180, kept to 6 places


def test_a_stress_event_overrides_its_periods_and_adds_its_price_delta() -> None:
    by_start = {s.period_start: s for s in zone_signals(seed(), "UK-EAST")}

    for hhmm in ("14:00", "14:30", "15:00", "15:30"):
        s = by_start[at(hhmm)]
        assert (s.renewable_pct, s.carbon_g_per_kwh) == (45, 134)  # the event's figures
        assert s.price_gbp_per_kwh == pytest.approx(0.132)  # base 0.102 + delta 0.03
        assert s.stress_event_id == STRESS_ID
    after = by_start[at("16:00")]
    assert (after.renewable_pct, after.carbon_g_per_kwh) == (62, 86)
    assert after.price_gbp_per_kwh == pytest.approx(0.102)
    assert after.stress_event_id is None
    before = by_start[at("13:30")]
    assert (before.price_gbp_per_kwh, before.stress_event_id) == (pytest.approx(0.106), None)


def test_a_marginal_intensity_is_published_where_the_scenario_gives_one() -> None:
    doc = seed_doc()
    for block in doc["zones"]["UK-EAST"]["signals"]:
        block["marginal_carbon_g_per_kwh"] = 350
    doc["stress_events"][0]["marginal_carbon_g_per_kwh"] = 420

    by_start = {s.period_start: s for s in zone_signals(scenario(doc), "UK-EAST")}

    assert by_start[at("13:30")].marginal_carbon_g_per_kwh == 350
    assert by_start[at("14:00")].marginal_carbon_g_per_kwh == 420  # the event's own
    assert by_start[at("14:00")].carbon_g_per_kwh == 134  # location-based unchanged
    assert all(s.marginal_carbon_g_per_kwh is None for s in zone_signals(seed(), "UK-EAST"))


def test_signals_cover_the_day_in_settlement_periods() -> None:
    sigs = zone_signals(seed(), "UK-NW")

    assert len(sigs) == 48  # 24 h / 30 min
    assert sigs[0].period_start == at("00:00")
    assert sigs[-1].period_end == at("24:00")
    assert all(s.period_end - s.period_start == at("00:30") - at("00:00") for s in sigs)
    assert all(s.stress_event_id is None for s in sigs)  # the stress is in UK-EAST only


def test_stress_at_covers_its_span_half_open() -> None:
    sc = seed()

    assert stress_at(sc, "UK-EAST", 14 * 60) is not None
    assert stress_at(sc, "UK-EAST", 16 * 60 - 1) is not None
    assert stress_at(sc, "UK-EAST", 16 * 60) is None
    assert stress_at(sc, "UK-NW", 15 * 60) is None


def test_an_order_within_capacity_has_no_shortfall() -> None:
    assert capacity_shortfalls(_windows(), {}, [LineRequest(EAST_10_14, 1500)]) == []


def test_capacity_already_reserved_is_not_offered_again() -> None:
    got = capacity_shortfalls(_windows(), {EAST_14_18: 1200}, [LineRequest(EAST_14_18, 400)])

    assert got == [f"{EAST_14_18}: 400 kW asked, 300 kW left of 1500 kW"]  # 1500 - 1200 = 300


def test_an_order_needs_the_largest_of_its_lines_in_a_window_not_their_sum() -> None:
    lines = [LineRequest(NW_14_18, 800), LineRequest(NW_14_18, 900)]

    assert capacity_shortfalls(_windows(), {}, lines) == []  # max(800, 900) = 900 <= 1500
    got = capacity_shortfalls(_windows(), {NW_14_18: 1000}, lines)
    assert got == [f"{NW_14_18}: 900 kW asked, 500 kW left of 1500 kW"]  # 1500 - 1000


def test_an_unknown_window_is_refused_and_the_others_still_checked() -> None:
    got = capacity_shortfalls(_windows(), {EAST_10_14: 1500},
                              [LineRequest("window-nowhere", 1), LineRequest(EAST_10_14, 1)])

    assert got == ["window-nowhere: no such window on offer",  # sorted by window id
                   f"{EAST_10_14}: 1 kW asked, 0 kW left of 1500 kW"]
