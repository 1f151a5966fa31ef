"""Settlement arithmetic: energy, money and carbon per site, actual vs nominated baseline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from contracts.events import ZoneSignalPublished
from services.grid_signal.domain import zone_signals
from services.settlement.domain import (
    MissingSignal,
    ZoneSeries,
    by_zone,
    flex_payment_gbp,
    nominated_kw,
    performance_factor,
    reduction_pct,
    settle_site,
)

from .factories import (
    CAMBRIDGE,
    MANCHESTER,
    at,
    line,
    seed,
    seed_cambridge_readings,
    seed_manchester_readings,
)

EVENT = (at("14:00"), at("16:00"))
CAMBRIDGE_LINES = [line(CAMBRIDGE, "10:00", "14:00"), line(CAMBRIDGE, "14:00", "16:00")]
MANCHESTER_LINES = [line(MANCHESTER, "14:00", "18:00", job_ids=("batch-b",))]


def _series(zone: str) -> ZoneSeries:
    return ZoneSeries.of(zone_signals(seed(), zone))


def test_the_signal_in_force_is_found_by_instant() -> None:
    east = _series("UK-EAST")

    assert east.at(at("14:00")).price_gbp_per_kwh == pytest.approx(0.132)
    assert east.at(at("15:59")).carbon_g_per_kwh == 134
    assert east.at(at("16:00")).price_gbp_per_kwh == pytest.approx(0.102)
    assert east.at(at("23:59")).price_gbp_per_kwh == pytest.approx(0.070)


def test_an_instant_without_a_signal_is_missing() -> None:
    east = _series("UK-EAST")
    holed = ZoneSeries.of(s for s in zone_signals(seed(), "UK-EAST")
                          if s.period_start != at("12:00"))

    for t in (at("00:00") - timedelta(seconds=1), at("24:00")):
        with pytest.raises(MissingSignal):
            east.at(t)
    with pytest.raises(MissingSignal):
        holed.at(at("12:15"))
    assert holed.at(at("12:30")).period_start == at("12:30")


def test_by_zone_groups_the_signals() -> None:
    sigs: dict[tuple[str, datetime], ZoneSignalPublished] = {
        (s.zone, s.period_start): s for z in ("UK-EAST", "UK-NW") for s in zone_signals(seed(), z)}

    zones = by_zone(sigs)

    assert sorted(zones) == ["UK-EAST", "UK-NW"]
    assert zones["UK-NW"].at(at("14:00")).price_gbp_per_kwh == pytest.approx(0.092)


def test_the_nominated_load_sums_the_lines_in_force() -> None:
    assert nominated_kw(CAMBRIDGE_LINES, at("14:00")) == 1200
    assert nominated_kw(CAMBRIDGE_LINES, at("16:00")) == 0
    assert nominated_kw([*CAMBRIDGE_LINES, line(CAMBRIDGE, "15:00", "16:00", 100)],
                        at("15:00")) == 1300


@pytest.mark.parametrize(("pct", "factor"), [
    (0, 0), (50, 0), (60, 0.2), (75, 0.5), (95, 0.9), (100, 1), (130, 1)])
def test_the_performance_factor_rises_linearly_from_50_to_100_pct(pct: float,
                                                                   factor: float) -> None:
    assert performance_factor(pct) == pytest.approx(factor)  # (pct - 50) / 50, in [0, 1]


def test_the_flexibility_payment() -> None:
    assert flex_payment_gbp(150, 900, 100) == pytest.approx(135)  # £150/MWh x 0.9 MWh x 1.0
    assert flex_payment_gbp(150, 900, 75) == pytest.approx(67.5)  # x 0.5
    assert flex_payment_gbp(150, 900, 50) == 0
    assert flex_payment_gbp(150, -100, 100) == 0  # a load increase earns nothing


def test_reduction_pct() -> None:
    assert reduction_pct(1248, 1207.733333) == pytest.approx(3.2265)  # 40.2667 / 1248
    assert reduction_pct(734.4, 669.8) == pytest.approx(8.7963)  # 64.6 / 734.4
    assert reduction_pct(100, 120) == -20
    assert reduction_pct(0, 5) == 0  # no baseline, no reduction


def test_cambridge_settles_to_the_seed_figures() -> None:
    s = settle_site(CAMBRIDGE, "UK-EAST", _series("UK-EAST"), CAMBRIDGE_LINES,
                    seed_cambridge_readings(), 24, EVENT)

    assert s.energy_kwh == pytest.approx(6633.333333)  # 4800 + 1500 + 333.33
    # 1200 x (0.098 + 2 x 0.102 + 0.106) = 489.60; 1500 x 0.132 = 198.00; 333.33 x 0.070 = 23.33
    assert s.cost_gbp == pytest.approx(710.933333)
    # 1200 x (42 + 2 x 36 + 30) / 1000 = 172.8; 1500 x 0.134 = 201; 333.33 x 0.078 = 26
    assert s.carbon_kg == pytest.approx(399.8)
    assert s.baseline_energy_kwh == 7200  # 1200 kW x 6 h
    assert s.baseline_cost_gbp == pytest.approx(806.40)  # 489.60 + 2400 x 0.132 = 316.80
    assert s.baseline_carbon_kg == pytest.approx(494.4)  # 172.8 + 2400 x 0.134 = 321.6
    assert s.load_kw_before_event == 1200  # nominated during the event
    assert s.load_kw_after_event == 900  # facility load during the event
    assert s.import_kw_after_event == 750  # 900 - 150 battery
    assert s.missing_readings == 0


def test_manchester_settles_to_the_seed_figures() -> None:
    s = settle_site(MANCHESTER, "UK-NW", _series("UK-NW"), MANCHESTER_LINES,
                    seed_manchester_readings(), 24, EVENT)

    assert s.energy_kwh == 5400  # 1500 x 2 h + 1200 x 2 h
    assert s.cost_gbp == pytest.approx(496.80)  # 5400 x £0.092
    assert s.carbon_kg == pytest.approx(270.0)  # 5400 x 50 g
    assert s.baseline_cost_gbp == pytest.approx(441.60)  # 1200 x 4 h x £0.092
    assert s.baseline_carbon_kg == pytest.approx(240.0)  # 4800 x 50 g
    assert (s.load_kw_before_event, s.load_kw_after_event) == (1200, 1500)


def test_missing_readings_are_counted() -> None:
    readings = [r for r in seed_manchester_readings() if r.start != at("03:00")]

    s = settle_site(MANCHESTER, "UK-NW", _series("UK-NW"), MANCHESTER_LINES, readings, 24, EVENT)

    assert s.missing_readings == 1


def test_without_an_event_the_event_figures_are_zero() -> None:
    s = settle_site(MANCHESTER, "UK-NW", _series("UK-NW"), MANCHESTER_LINES,
                    seed_manchester_readings(), 24, None)

    assert (s.load_kw_before_event, s.load_kw_after_event, s.import_kw_after_event) == (0, 0, 0)
    assert s.cost_gbp == pytest.approx(496.80)


def test_a_reading_with_no_signal_in_force_cannot_be_settled() -> None:
    series = ZoneSeries.of(s for s in zone_signals(seed(), "UK-NW") if s.period_start < at("12:00"))

    with pytest.raises(MissingSignal):
        settle_site(MANCHESTER, "UK-NW", series, MANCHESTER_LINES, seed_manchester_readings(),
                    24, EVENT)
