"""Settlement arithmetic (services/settlement/domain.py): every formula against hand-worked
values, the seed day first (docs/settlement.md works the same numbers)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.compute_energy.vocab import OrderLine
from contracts.events import (
    FlexibilityVerified,
    MeterReadingRecorded,
    ResponseDispatched,
    SiteDelta,
    Verdict,
    ZoneSignalPublished,
)
from services.grid_signal.domain import zone_signals
from rules.settlement import (
    DaySettlement,
    InstructedEvent,
    MissingSignal,
    OrderedLine,
    OrderInput,
    SettlementConfig,
    SettlementInputError,
    SettlementInputs,
    ZoneSeries,
    availability_payment_gbp,
    battery_losses,
    by_zone,
    flex_payment_gbp,
    nominated_kw,
    paid_kwh,
    performance_factor,
    reduction_pct,
    settle_day,
)

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    EAST_10_14,
    EAST_14_18,
    MANCHESTER,
    MANCHESTER_TXN,
    NW_14_18,
    STRESS_ID,
    at,
    line,
    reading,
    seed,
    seed_cambridge_readings,
    seed_manchester_readings,
    stress_event,
)

CAMBRIDGE_ORDER = "order-cambridge-east-20251117"
MANCHESTER_ORDER = "order-manchester-20251117"


def _signals(zone: str, **marginal: Any) -> tuple[ZoneSignalPublished, ...]:
    g = marginal.get("g")
    return tuple(s.model_copy(update={"marginal_carbon_g_per_kwh": g})
                 for s in zone_signals(seed(), zone))


def _cambridge(*lines: tuple[str, OrderLine]) -> OrderInput:
    lines = lines or ((EAST_10_14, line(CAMBRIDGE, "10:00", "14:00")),
                      (EAST_14_18, line(CAMBRIDGE, "14:00", "16:00")))
    return OrderInput(order_id=CAMBRIDGE_ORDER, transaction_id=CAMBRIDGE_TXN, site_id=CAMBRIDGE,
                      zone="UK-EAST", items=tuple(
                          OrderedLine(item_id=w, line_id=f"batch-a@{w}", line=ln)
                          for w, ln in lines))


def _manchester() -> OrderInput:
    ln = line(MANCHESTER, "14:00", "18:00", job_ids=("batch-b",))
    return OrderInput(order_id=MANCHESTER_ORDER, transaction_id=MANCHESTER_TXN,
                      site_id=MANCHESTER, zone="UK-NW",
                      items=(OrderedLine(item_id=NW_14_18, line_id=f"batch-b@{NW_14_18}",
                                         line=ln),))


def _verified(delivered_kw: float = 450, pct: float = 100, verdict: Verdict = Verdict.DELIVERED,
              requested_kw: float = 450) -> FlexibilityVerified:
    return FlexibilityVerified(
        event_id=STRESS_ID, order_id=CAMBRIDGE_ORDER, transaction_id=CAMBRIDGE_TXN,
        site_id=CAMBRIDGE, start=at("14:00"), end=at("16:00"), requested_kw=requested_kw,
        baseline_kw=1200, metered_kw=1200 - delivered_kw, delivered_kw=delivered_kw,
        delivered_kwh=delivered_kw * 2, delivered_pct=pct, verdict=verdict,
        receiving=(SiteDelta(site_id=MANCHESTER, baseline_kw=1200, metered_kw=1500),),
        net_system_kw=delivered_kw - 300)


INSTRUCTED = InstructedEvent(site_id=CAMBRIDGE, order_id=CAMBRIDGE_ORDER,
                             transaction_id=CAMBRIDGE_TXN, event=stress_event())
RESPONSE = ResponseDispatched(event_id=STRESS_ID, site_id=CAMBRIDGE, requested_kw=450,
                              shifted_kw=300, shifted_to=(MANCHESTER,), battery_kw=150,
                              shortfall_kw=0, command_ids=("c1",), start=at("14:00"),
                              end=at("16:00"))


def seed_inputs(**change: Any) -> SettlementInputs:
    """The seed day, metered hourly (readings straddle the 30-minute intervals)."""
    base: dict[str, Any] = {
        "day_start": at("00:00"), "day_end": at("24:00"),
        "orders": (_cambridge(), _manchester()),
        "signals": _signals("UK-EAST") + _signals("UK-NW"),
        "readings": tuple(seed_cambridge_readings() + seed_manchester_readings()),
        "events": (INSTRUCTED,), "verifications": (_verified(),), "responses": (RESPONSE,)}
    return SettlementInputs(**(base | change))


@pytest.fixture(scope="module")
def seed_day() -> DaySettlement:
    return settle_day(seed_inputs())


# ---- the small formulas ----------------------------------------------------------------------


def test_the_signal_in_force_is_found_by_instant() -> None:
    east = ZoneSeries.of(zone_signals(seed(), "UK-EAST"))

    assert east.at(at("14:00")).price_gbp_per_kwh == pytest.approx(0.132)
    assert east.at(at("15:59")).carbon_g_per_kwh == 134
    assert east.at(at("16:00")).price_gbp_per_kwh == pytest.approx(0.102)
    for t in (at("00:00") - timedelta(seconds=1), at("24:00")):
        with pytest.raises(MissingSignal):
            east.at(t)
    assert sorted(by_zone(seed_inputs().signals)) == ["UK-EAST", "UK-NW"]


def test_the_nominated_load_sums_the_lines_in_force() -> None:
    lines = [line(CAMBRIDGE, "10:00", "14:00"), line(CAMBRIDGE, "14:00", "16:00")]
    assert nominated_kw(lines, at("14:00")) == 1200
    assert nominated_kw(lines, at("16:00")) == 0
    assert nominated_kw([*lines, line(CAMBRIDGE, "15:00", "16:00", 100)], at("15:00")) == 1300


@pytest.mark.parametrize(("pct", "factor"), [
    (0, 0), (50, 0), (60, 0.2), (75, 0.5), (95, 0.9), (100, 1), (130, 1)])
def test_the_performance_factor_rises_linearly_from_50_to_100_pct(pct: float,
                                                                   factor: float) -> None:
    assert performance_factor(pct) == pytest.approx(factor)  # (pct - 50) / 50, in [0, 1]


def test_the_performance_factor_follows_the_configured_floor() -> None:
    assert performance_factor(70, floor_pct=60, full_pct=80) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="above"):
        SettlementConfig(performance_floor_pct=80, performance_full_pct=80)


def test_the_utilisation_payment() -> None:
    assert flex_payment_gbp(150, 900, 100) == pytest.approx(135)  # £150/MWh x 0.9 MWh x 1.0
    assert flex_payment_gbp(150, 900, 75) == pytest.approx(67.5)  # x 0.5
    assert flex_payment_gbp(150, 900, 50) == 0
    assert flex_payment_gbp(150, -100, 100) == 0  # a load increase earns nothing


def test_paid_energy_is_capped_at_the_instructed_reduction() -> None:
    assert paid_kwh(1100, 450, 2) == 900  # 550 kW delivered, 450 kW x 2 h instructed
    assert paid_kwh(1100, 450, 2, cap=False) == 1100
    assert paid_kwh(-200, 450, 2) == 0


def test_the_availability_payment() -> None:
    assert availability_payment_gbp(5, 450, 2) == pytest.approx(4.5)  # £5/MW/h x 0.45 MW x 2 h
    assert availability_payment_gbp(5, 0, 2) == 0


def test_battery_losses_are_charged_minus_discharged() -> None:
    assert battery_losses(1000 / 3, 300) == pytest.approx(100 / 3)  # 333.33 - 300 kWh
    assert battery_losses(100, 300) == 0  # ended the day emptier: no loss measured on it


def test_reduction_pct() -> None:
    assert reduction_pct(1248, 1207.733333) == pytest.approx(3.2265)  # 40.2667 / 1248
    assert reduction_pct(734.4, 669.8) == pytest.approx(8.7963)  # 64.6 / 734.4
    assert reduction_pct(100, 120) == -20
    assert reduction_pct(0, 5) == 0


# ---- the seed day ----------------------------------------------------------------------------


def test_the_seed_day_totals(seed_day: DaySettlement) -> None:
    st = seed_day.statement

    assert st.baseline_cost_gbp == pytest.approx(1248.00)  # 489.60 + 316.80 + 441.60
    assert st.actual_cost_gbp == pytest.approx(1207.733333)  # 489.60 + 198 + 23.33 + 496.80
    assert st.baseline_carbon_kg == pytest.approx(734.4)  # 172.8 + 321.6 + 240
    assert st.actual_carbon_kg == pytest.approx(669.8)  # 172.8 + 201 + 26 + 270
    assert st.utilisation_payment_gbp == st.flex_payment_gbp == pytest.approx(135)
    assert st.availability_payment_gbp == 0
    assert (st.baseline_energy_kwh, st.actual_energy_kwh) == (12000, pytest.approx(12033.333333))
    assert (st.shifted_kw, st.battery_kw, st.verified_kw, st.net_system_kw) == (300, 150, 450, 150)
    assert st.baseline_marginal_carbon_kg is None and st.actual_marginal_carbon_kg is None
    assert st.interval_minutes == 30
    assert st.config_digest == SettlementConfig().digest()
    assert st.inputs_digest == seed_inputs().digest()


def test_cambridge_settles_to_the_seed_figures(seed_day: DaySettlement) -> None:
    cam, _ = seed_day.statement.sites

    assert cam.energy_kwh == pytest.approx(6633.333333)  # 4800 + 1500 + 333.33
    assert cam.cost_gbp == pytest.approx(710.933333)  # 489.60 + 198.00 + 23.33
    assert cam.carbon_kg == pytest.approx(399.8)  # 172.8 + 201 + 26
    assert cam.baseline_energy_kwh == 7200  # 1200 kW x 6 h
    assert cam.baseline_cost_gbp == pytest.approx(806.40)  # 489.60 + 2400 x 0.132
    assert cam.baseline_carbon_kg == pytest.approx(494.4)  # 172.8 + 2400 x 0.134
    assert (cam.load_kw_before_event, cam.load_kw_after_event, cam.import_kw_after_event) == (
        1200, 900, 750)
    assert cam.load_kwh == 6600  # 4800 + 1800
    assert cam.missing_readings == 0


def test_the_battery_recharge_and_losses_are_shown_against_the_savings(
        seed_day: DaySettlement) -> None:
    cam, man = seed_day.statement.sites

    assert cam.battery_discharge_kwh == 300  # 150 kW x 2 h
    assert cam.battery_charge_kwh == pytest.approx(333.333333)  # 300 / 0.9
    assert cam.battery_losses_kwh == pytest.approx(33.333333)
    assert cam.battery_recharge_cost_gbp == pytest.approx(23.333333)  # 333.33 x £0.070
    assert cam.battery_recharge_carbon_kg == pytest.approx(26.0)  # 333.33 x 78 g
    assert cam.battery_losses_cost_gbp == pytest.approx(2.333333)  # 33.33 x £0.070
    assert cam.battery_losses_carbon_kg == pytest.approx(2.6)
    assert (man.battery_charge_kwh, man.battery_losses_kwh) == (0, 0)
    st = seed_day.statement
    # saving before the recharge 1248 - (1207.73 - 23.33) = 63.60; net of it 40.27
    assert st.baseline_cost_gbp - st.actual_cost_gbp == pytest.approx(40.266667)
    assert st.battery_recharge_cost_gbp == pytest.approx(23.333333)
    assert st.battery_losses_kwh == pytest.approx(33.333333)


def test_manchester_settles_to_the_seed_figures(seed_day: DaySettlement) -> None:
    _, man = seed_day.statement.sites

    assert man.energy_kwh == 5400  # 1500 x 2 h + 1200 x 2 h
    assert man.cost_gbp == pytest.approx(496.80)  # 5400 x £0.092
    assert man.carbon_kg == pytest.approx(270.0)  # 5400 x 50 g
    assert man.baseline_cost_gbp == pytest.approx(441.60)  # 4800 x £0.092
    assert man.baseline_carbon_kg == pytest.approx(240.0)
    assert (man.load_kw_before_event, man.load_kw_after_event) == (1200, 1500)


def test_each_interval_is_priced_with_the_signal_in_force(seed_day: DaySettlement) -> None:
    cam_day, man_day = seed_day.sites

    rows = cam_day.rows()
    assert len(rows) == 48 == len(cam_day.site.energy_kwh)
    i = rows[28]  # 14:00-14:30, half of the 14:00 hourly reading
    assert (i.start, i.end) == (at("14:00"), at("14:30"))
    assert (i.energy_kwh, i.load_kwh, i.battery_discharge_kwh) == (375, 450, 75)
    assert (i.baseline_kwh, i.price_gbp_per_kwh, i.carbon_g_per_kwh) == (600, 0.132, 134)
    assert i.cost_gbp == pytest.approx(49.5)  # 375 x 0.132
    assert i.baseline_cost_gbp == pytest.approx(79.2)  # 600 x 0.132
    assert i.carbon_kg == pytest.approx(50.25)  # 375 x 134 g
    assert i.metered_hours == 0.5
    r = rows[47]  # 23:30-24:00: 200 kW x 10 min of the recharge's second hour
    assert r.energy_kwh == pytest.approx(400 / 3 / 2)  # half the 23:00 reading (133.33 kWh)
    assert r.baseline_kwh == 0
    assert cam_day.orders == ()  # one order at the site: its intervals are the site's
    assert cam_day.rows(CAMBRIDGE_ORDER)[28].energy_kwh == 375
    assert sum(man_day.site.energy_kwh) == pytest.approx(5400)


def test_each_order_and_item_gets_its_figures(seed_day: DaySettlement) -> None:
    cam, man = seed_day.statement.orders

    assert (cam.order_id, cam.flex_payment_gbp, cam.utilisation_payment_gbp) == (
        CAMBRIDGE_ORDER, 135, 135)
    assert (cam.verified_kwh, cam.delivered_pct, cam.performance_factor) == (900, 100, 1)
    assert cam.cost_gbp == pytest.approx(710.933333)
    assert cam.battery_recharge_cost_gbp == pytest.approx(23.333333)
    early, late = cam.items
    assert (early.item_id, early.energy_kwh, early.cost_gbp) == (EAST_10_14, 4800,
                                                                 pytest.approx(489.6))
    assert (early.verified_kwh, early.utilisation_payment_gbp) == (0, 0)
    assert (late.item_id, late.energy_kwh, late.baseline_energy_kwh) == (EAST_14_18, 1500, 2400)
    assert late.cost_gbp == pytest.approx(198)
    assert (late.verified_kwh, late.utilisation_payment_gbp) == (900, 135)
    # the 22:00 recharge is the order's (its site's) but inside no item's slot
    assert cam.energy_kwh - early.energy_kwh - late.energy_kwh == pytest.approx(333.333333)
    assert (man.delivered_pct, man.performance_factor, man.flex_payment_gbp) == (None, None, 0)
    assert man.items[0].energy_kwh == 5400


def test_the_event_record_shows_how_the_payment_was_reached(seed_day: DaySettlement) -> None:
    (ev,) = seed_day.statement.events

    assert (ev.event_id, ev.site_id, ev.verdict) == (STRESS_ID, CAMBRIDGE, Verdict.DELIVERED)
    assert (ev.requested_kw, ev.delivered_kw, ev.delivered_kwh, ev.delivered_pct) == (
        450, 450, 900, 100)
    assert (ev.performance_factor, ev.utilisation_rate_gbp_per_mwh, ev.paid_kwh) == (1, 150, 900)
    assert ev.utilisation_payment_gbp == 135


def test_settling_is_pure_and_repeatable() -> None:
    a, b = settle_day(seed_inputs()), settle_day(seed_inputs())

    assert a == b
    assert a.statement.model_dump_json() == b.statement.model_dump_json()


# ---- incentives ------------------------------------------------------------------------------


def test_a_partial_delivery_is_paid_by_its_performance_factor() -> None:
    v = _verified(delivered_kw=337.5, pct=75, verdict=Verdict.PARTIAL)

    st = settle_day(seed_inputs(verifications=(v,))).statement

    (ev,) = st.events
    assert (ev.paid_kwh, ev.performance_factor) == (675, 0.5)
    assert st.flex_payment_gbp == pytest.approx(50.625)  # £150/MWh x 0.675 MWh x 0.5


def test_delivery_at_or_below_half_earns_nothing() -> None:
    v = _verified(delivered_kw=225, pct=50, verdict=Verdict.PARTIAL)

    assert settle_day(seed_inputs(verifications=(v,))).statement.flex_payment_gbp == 0


def test_over_delivery_is_paid_up_to_the_instruction() -> None:
    v = _verified(delivered_kw=450, pct=150, requested_kw=300)  # 300 kW asked for, 450 given

    (ev,) = settle_day(seed_inputs(verifications=(v,))).statement.events

    assert ev.paid_kwh == 600  # 300 kW x 2 h
    assert ev.utilisation_payment_gbp == pytest.approx(90)  # £150 x 0.6 MWh x 1


def test_an_availability_payment_where_the_order_carries_one() -> None:
    held = line(CAMBRIDGE, "14:00", "16:00").model_copy(
        update={"availability_kw": 450, "availability_payment_gbp_per_mw_per_h": 5})
    order = _cambridge((EAST_10_14, line(CAMBRIDGE, "10:00", "14:00")), (EAST_14_18, held))

    st = settle_day(seed_inputs(orders=(order, _manchester()))).statement

    cam = st.orders[0]
    assert cam.availability_payment_gbp == pytest.approx(4.5)  # £5/MW/h x 0.45 MW x 2 h
    assert cam.items[1].availability_payment_gbp == pytest.approx(4.5)
    assert cam.flex_payment_gbp == pytest.approx(139.5)  # 135 utilisation + 4.5
    assert st.availability_payment_gbp == pytest.approx(4.5)
    assert st.flex_payment_gbp == pytest.approx(139.5)


def test_a_verification_without_its_instruction_cannot_be_paid() -> None:
    with pytest.raises(SettlementInputError, match="no instructed event"):
        settle_day(seed_inputs(events=()))


# ---- carbon ----------------------------------------------------------------------------------


def test_a_marginal_factor_is_reported_separately_never_mixed() -> None:
    signals = _signals("UK-EAST", g=300) + _signals("UK-NW", g=400)

    st = settle_day(seed_inputs(signals=signals)).statement

    cam, man = st.sites
    assert man.marginal_carbon_kg == pytest.approx(2160)  # 5400 kWh x 400 g
    assert man.baseline_marginal_carbon_kg == pytest.approx(1920)  # 4800 x 400 g
    assert cam.marginal_carbon_kg == pytest.approx(1990)  # 6633.33 x 300 g
    assert cam.baseline_marginal_carbon_kg == pytest.approx(2160)  # 7200 x 300 g
    assert st.actual_marginal_carbon_kg == pytest.approx(4150)
    assert st.baseline_marginal_carbon_kg == pytest.approx(4080)
    assert st.actual_carbon_kg == pytest.approx(669.8)  # location-based unchanged
    assert st.orders[1].marginal_carbon_kg == pytest.approx(2160)


def test_a_marginal_factor_missing_in_one_interval_is_not_reported() -> None:
    nw = list(_signals("UK-NW", g=400))
    nw[10] = nw[10].model_copy(update={"marginal_carbon_g_per_kwh": None})

    st = settle_day(seed_inputs(signals=_signals("UK-EAST", g=300) + tuple(nw))).statement

    cam, man = st.sites
    assert cam.marginal_carbon_kg == pytest.approx(1990)
    assert man.marginal_carbon_kg is None
    assert st.actual_marginal_carbon_kg is None  # not a partial sum
    assert man.carbon_kg == pytest.approx(270)


# ---- several orders at a site, readings and intervals ------------------------------------------


def test_a_site_with_two_orders_shares_its_import_by_nominated_load() -> None:
    a = OrderInput(order_id="a", transaction_id="ta", site_id=MANCHESTER, zone="UK-NW", items=(
        OrderedLine(item_id="w1", line_id="a1", line=line(MANCHESTER, "14:00", "16:00", 600)),))
    b = OrderInput(order_id="b", transaction_id="tb", site_id=MANCHESTER, zone="UK-NW", items=(
        OrderedLine(item_id="w1", line_id="b1", line=line(MANCHESTER, "14:00", "16:00", 200)),
        OrderedLine(item_id="w2", line_id="b2", line=line(MANCHESTER, "16:00", "18:00", 200))))
    readings = (reading(MANCHESTER, "14:00", "16:00", 2000),  # 1000 kW
                reading(MANCHESTER, "16:00", "18:00", 600),  # 300 kW, only b nominated
                reading(MANCHESTER, "22:00", "23:00", 100))  # nobody nominated

    day = settle_day(SettlementInputs(day_start=at("00:00"), day_end=at("24:00"), orders=(a, b),
                                      signals=_signals("UK-NW"), readings=readings))

    oa, ob = day.statement.orders
    # 14-16: 2000 kWh split 600:200; 16-18: all 600 to b; 22-23: 100 by the day's baseline
    # (a 1200 kWh, b 800 kWh) -> 60 : 40
    assert oa.energy_kwh == pytest.approx(1500 + 60)
    assert ob.energy_kwh == pytest.approx(500 + 600 + 40)
    assert oa.energy_kwh + ob.energy_kwh == day.statement.sites[0].energy_kwh == 2700
    assert oa.cost_gbp == pytest.approx(1500 * 0.092 + 60 * 0.088)
    assert (oa.baseline_energy_kwh, ob.baseline_energy_kwh) == (1200, 800)
    assert [i.energy_kwh for i in ob.items] == [500, 600]
    (site_day,) = day.sites
    assert [o.order_id for o in site_day.orders] == ["a", "b"]
    ra, rb = site_day.rows("a"), site_day.rows("b")
    assert (len(ra), ra[28].energy_kwh, rb[28].energy_kwh) == (48, 375, 125)  # 500 kWh 3:1
    assert rb[44].energy_kwh == pytest.approx(20)  # 22:00-22:30: 50 kWh x 40%
    assert sum(r.energy_kwh for r in ra + rb) == pytest.approx(2700)


def test_a_reading_straddling_two_prices_is_split_pro_rata() -> None:
    o = OrderInput(order_id="o", transaction_id="t", site_id=CAMBRIDGE, zone="UK-EAST", items=(
        OrderedLine(item_id="w", line_id="l", line=line(CAMBRIDGE, "09:30", "10:30", 600)),))
    r = reading(CAMBRIDGE, "09:30", "10:30", 600)

    st = settle_day(SettlementInputs(day_start=at("00:00"), day_end=at("24:00"), orders=(o,),
                                     signals=_signals("UK-EAST"), readings=(r,))).statement

    # 300 kWh at £0.110 (06-10) and 300 kWh at £0.098 (10-11); 92 g and 42 g
    assert st.actual_cost_gbp == pytest.approx(300 * 0.110 + 300 * 0.098)
    assert st.actual_carbon_kg == pytest.approx(300 * 0.092 + 300 * 0.042)
    assert st.baseline_cost_gbp == st.actual_cost_gbp


def test_missing_readings_are_counted() -> None:
    readings = tuple(r for r in seed_cambridge_readings() + seed_manchester_readings()
                     if not (r.site_id == MANCHESTER and r.start == at("03:00")))

    _, man = settle_day(seed_inputs(readings=readings)).statement.sites

    assert man.missing_readings == 1
    assert man.energy_kwh == 5400


def test_without_an_event_the_event_figures_are_zero() -> None:
    st = settle_day(seed_inputs(events=(), verifications=())).statement

    _, man = st.sites
    assert (man.load_kw_before_event, man.load_kw_after_event, man.import_kw_after_event) == (
        0, 0, 0)
    assert man.cost_gbp == pytest.approx(496.80)
    assert st.flex_payment_gbp == 0 and st.events == ()


def test_an_interval_without_a_signal_cannot_be_settled() -> None:
    holed = tuple(s for s in _signals("UK-NW") if s.period_start != at("12:00"))

    with pytest.raises(MissingSignal, match="UK-NW"):
        settle_day(seed_inputs(signals=_signals("UK-EAST") + holed))


def test_an_interval_longer_than_the_signal_period_is_refused() -> None:
    with pytest.raises(SettlementInputError, match="ends before"):
        settle_day(seed_inputs(config=SettlementConfig(interval_minutes=60)))


def test_a_shorter_interval_gives_the_same_day() -> None:
    st = settle_day(seed_inputs(config=SettlementConfig(interval_minutes=15))).statement

    assert st.actual_cost_gbp == pytest.approx(1207.733333)
    assert st.baseline_carbon_kg == pytest.approx(734.4)
    assert st.interval_minutes == 15


def test_a_day_that_is_not_whole_intervals_is_refused() -> None:
    with pytest.raises(SettlementInputError, match="whole number"):
        settle_day(seed_inputs(day_end=at("23:50")))


def test_a_clock_change_day_of_25_hours_settles_50_intervals() -> None:
    o = OrderInput(order_id="o", transaction_id="t", site_id=MANCHESTER, zone="UK-NW", items=(
        OrderedLine(item_id="w", line_id="l", line=line(MANCHESTER, "14:00", "16:00", 100)),))
    signals = tuple(ZoneSignalPublished(
        zone="UK-NW", period_start=at("00:00") + k * timedelta(minutes=30),
        period_end=at("00:00") + (k + 1) * timedelta(minutes=30), renewable_pct=50,
        carbon_g_per_kwh=100, price_gbp_per_kwh=0.1) for k in range(50))
    readings = (MeterReadingRecorded(site_id=MANCHESTER, start=at("14:00"), end=at("16:00"),
                                     import_kwh=200, load_kwh=200, battery_discharge_kwh=0),)

    day = settle_day(SettlementInputs(day_start=at("00:00"), day_end=at("00:00") + timedelta(
        hours=25), orders=(o,), signals=signals, readings=readings))

    assert len(day.sites[0].rows()) == 50
    assert day.statement.actual_cost_gbp == pytest.approx(20)
