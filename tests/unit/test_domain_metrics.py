"""Each service's domain metrics, set by its observer from the typed outputs it publishes.

Figures are the seed day's (docs/scenarios.md): a 1-minute reading of 15 kWh is 900 kW.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from contracts.beckn.models import Action, DiscoverMessage, OrderStatus
from contracts.events import (
    CommandAction,
    FlexibilityVerified,
    OrderSettlement,
    ResponseDispatched,
    SettlementStatementIssued,
    SiteCommandIssued,
    SiteDelta,
    SiteSettlement,
    Verdict,
    ZoneSignalPublished,
)
from contracts.topics import (
    BECKN_CALLBACKS,
    BECKN_ORDERS,
    BECKN_STATUSES,
    COMMANDS,
    GRID_SIGNALS,
    PLACEMENTS,
    READINGS,
    RESPONSES,
    STATEMENTS,
    VERIFICATIONS,
    Topic,
)
from services.common.runner import Observer, Out
from services.grid_signal import metrics as grid_metrics
from services.load_shifter import metrics as shifter_metrics
from services.metering_validator import metrics as validator_metrics
from services.planner import metrics as planner_metrics
from services.settlement import metrics as settlement_metrics
from services.site_simulator import metrics as site_metrics

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    STRESS_ID,
    at,
    beckn,
    cambridge_order,
    env,
    manchester_order,
    placement,
    reading,
    receiving_answer,
    seed_catalog,
    stress_update,
    tick,
)

CAM_ORDER, MAN_ORDER = "order-cambridge-east-20251117", "order-manchester-20251117"


def _observer(module: Any) -> tuple[Observer, CollectorRegistry]:
    registry = CollectorRegistry()
    return module.observer(registry), registry


def _out(topic: Topic, value: Any, key: str = "k") -> Out:
    return Out(topic, key, value)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


# ---- site-simulator -----------------------------------------------------------------------------


def test_a_reading_becomes_the_sites_load_import_and_battery_in_kw() -> None:
    observe, reg = _observer(site_metrics)
    # 14:00-14:01 at Cambridge: 900 kW facility load, battery 150 kW, import 750 kW
    observe(_out(READINGS, env(reading(CAMBRIDGE, "14:00", "14:01", 15, battery_kwh=2.5))))
    assert _value(reg, "site_load_kw", site=CAMBRIDGE) == pytest.approx(900)
    assert _value(reg, "site_battery_discharge_kw", site=CAMBRIDGE) == pytest.approx(150)
    assert _value(reg, "site_grid_import_kw", site=CAMBRIDGE) == pytest.approx(750)
    assert _value(reg, "site_energy_imported_kwh_total", site=CAMBRIDGE) == pytest.approx(12.5)


def test_the_gauges_follow_the_latest_interval_and_imports_add_up() -> None:
    observe, reg = _observer(site_metrics)
    observe(_out(READINGS, env(reading(CAMBRIDGE, "13:59", "14:00", 20))))  # 1200 kW
    observe(_out(READINGS, env(reading(CAMBRIDGE, "14:00", "14:01", 15, battery_kwh=2.5))))
    # the 22:00 recharge: no load, 200 kW into the battery, all of it imported
    observe(_out(READINGS, env(reading(CAMBRIDGE, "22:00", "22:01", 0, battery_kwh=-200 / 60))))
    assert _value(reg, "site_load_kw", site=CAMBRIDGE) == pytest.approx(0)
    assert _value(reg, "site_battery_discharge_kw", site=CAMBRIDGE) == pytest.approx(-200)
    assert _value(reg, "site_grid_import_kw", site=CAMBRIDGE) == pytest.approx(200)
    assert _value(reg, "site_energy_imported_kwh_total", site=CAMBRIDGE) == pytest.approx(
        20 + 12.5 + 200 / 60)


def test_a_readings_state_of_charge_is_exported_as_a_ratio() -> None:
    observe, reg = _observer(site_metrics)
    r = reading(CAMBRIDGE, "15:59", "16:00", 15, battery_kwh=2.5)
    observe(_out(READINGS, env(r.model_copy(update={"battery_soc_pct": 15.0}))))
    assert _value(reg, "site_battery_state_of_charge_ratio", site=CAMBRIDGE) == pytest.approx(0.15)
    observe(_out(READINGS, env(reading(MANCHESTER, "15:59", "16:00", 25))))  # no battery
    assert _value(reg, "site_battery_state_of_charge_ratio", site=MANCHESTER) is None


def test_an_hourly_reading_is_converted_by_its_own_length() -> None:
    observe, reg = _observer(site_metrics)
    observe(_out(READINGS, env(reading(MANCHESTER, "14:00", "15:00", 1500))))
    assert _value(reg, "site_load_kw", site=MANCHESTER) == pytest.approx(1500)
    assert _value(reg, "site_energy_imported_kwh_total", site=MANCHESTER) == pytest.approx(1500)
    assert _value(reg, "site_load_kw", site=CAMBRIDGE) is None


# ---- grid-signal --------------------------------------------------------------------------------


def _signal(start: str, end: str, renewable: float, carbon: float, price: float,
            stress: str | None = None, zone: str = "UK-EAST") -> Out:
    s = ZoneSignalPublished(zone=zone, period_start=at(start), period_end=at(end),
                            renewable_pct=renewable, carbon_g_per_kwh=carbon,
                            price_gbp_per_kwh=price, stress_event_id=stress)
    return _out(GRID_SIGNALS, env(s, time=at(start)), zone)


def test_a_published_signal_sets_the_zones_gauges() -> None:
    observe, reg = _observer(grid_metrics)
    observe(_signal("13:30", "14:00", 82, 30, 0.106))
    assert _value(reg, "grid_zone_renewable_ratio", zone="UK-EAST") == pytest.approx(0.82)
    assert _value(reg, "grid_zone_carbon_intensity_grams_per_kwh", zone="UK-EAST") == 30
    assert _value(reg, "grid_zone_price_gbp_per_kwh", zone="UK-EAST") == pytest.approx(0.106)
    assert _value(reg, "grid_stress_active", zone="UK-EAST") == 0
    assert _value(reg, "grid_zone_renewable_ratio", zone="UK-NW") is None


def test_stress_is_active_while_the_period_carries_it_and_counted_once() -> None:
    observe, reg = _observer(grid_metrics)
    observe(_signal("14:00", "14:30", 45, 134, 0.132, STRESS_ID))
    assert _value(reg, "grid_stress_active", zone="UK-EAST") == 1
    assert _value(reg, "grid_zone_renewable_ratio", zone="UK-EAST") == pytest.approx(0.45)
    for start, end in (("14:30", "15:00"), ("15:00", "15:30"), ("15:30", "16:00")):
        observe(_signal(start, end, 45, 134, 0.132, STRESS_ID))
    assert _value(reg, "grid_stress_events_total", zone="UK-EAST") == 1
    observe(_signal("16:00", "16:30", 62, 86, 0.102))
    assert _value(reg, "grid_stress_active", zone="UK-EAST") == 0
    assert _value(reg, "grid_stress_events_total", zone="UK-EAST") == 1
    observe(_signal("17:00", "17:30", 40, 148, 0.15, "stress-uk-east-1700"))
    assert _value(reg, "grid_stress_events_total", zone="UK-EAST") == 2


def _orders(reg: CollectorRegistry) -> dict[str, float | None]:
    return {s.value: _value(reg, "grid_orders", state=s.value) for s in OrderStatus}


def test_orders_are_counted_by_the_status_the_grid_last_answered() -> None:
    observe, reg = _observer(grid_metrics)
    assert set(_orders(reg).values()) == {0}  # every state is exported from the start
    observe(_out(BECKN_CALLBACKS, beckn(Action.ON_DISCOVER, CAMBRIDGE_TXN, seed_catalog())))
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order), (MANCHESTER_TXN, manchester_order)):
        observe(_out(BECKN_CALLBACKS, beckn(Action.ON_SELECT, txn, order(OrderStatus.CREATED))))
    assert _orders(reg)["CREATED"] == 2
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order), (MANCHESTER_TXN, manchester_order)):
        observe(_out(BECKN_CALLBACKS, beckn(Action.ON_INIT, txn, order(OrderStatus.PENDING))))
        observe(_out(BECKN_CALLBACKS, beckn(Action.ON_CONFIRM, txn, order(
            OrderStatus.CONFIRMED, confirmed=True))))
    assert _orders(reg) == {"CREATED": 0, "PENDING": 0, "CONFIRMED": 2, "INPROGRESS": 0,
                            "COMPLETED": 0, "REJECTED": 0}
    observe(_out(BECKN_CALLBACKS, stress_update()))
    assert _orders(reg)["CONFIRMED"] == 1 and _orders(reg)["INPROGRESS"] == 1


def test_a_refusal_rejects_the_order_but_a_refused_update_leaves_it_as_it_was() -> None:
    observe, reg = _observer(grid_metrics)
    observe(_out(BECKN_CALLBACKS, beckn(Action.ON_CONFIRM, MANCHESTER_TXN, manchester_order(
        OrderStatus.CONFIRMED, confirmed=True))))
    refused = receiving_answer(new_load_kw=1800, accepted=False).model_copy(
        update={"error": beckn(Action.ON_UPDATE, MANCHESTER_TXN, manchester_order(),
                               error=("40002", "new load exceeds the confirmed capacity")).error})
    observe(_out(BECKN_CALLBACKS, refused))
    assert _orders(reg)["CONFIRMED"] == 1 and _orders(reg)["INPROGRESS"] == 0
    observe(_out(BECKN_CALLBACKS, beckn(Action.ON_SELECT, CAMBRIDGE_TXN, cambridge_order(
        OrderStatus.REJECTED), error=("40002", "capacity"))))
    assert _orders(reg)["REJECTED"] == 1 and _orders(reg)["CONFIRMED"] == 1


# ---- planner ------------------------------------------------------------------------------------


def test_orders_are_selected_then_confirmed_when_their_placements_are_scheduled() -> None:
    observe, reg = _observer(planner_metrics)
    assert _value(reg, "compflex_orders", state="selected") == 0
    assert _value(reg, "compflex_orders", state="confirmed") == 0
    observe(_out(BECKN_ORDERS, beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order())))
    observe(_out(BECKN_ORDERS, beckn(Action.SELECT, MANCHESTER_TXN, manchester_order())))
    assert _value(reg, "compflex_orders", state="selected") == 2
    observe(_out(BECKN_ORDERS, beckn(Action.INIT, CAMBRIDGE_TXN, cambridge_order())))
    observe(_out(BECKN_ORDERS, beckn(Action.CONFIRM, CAMBRIDGE_TXN, cambridge_order())))
    assert _value(reg, "compflex_orders", state="selected") == 2  # not confirmed until it is
    for p in (placement("batch-a", "core", CAMBRIDGE, "10:00", "16:00", 900, critical=True,
                        migratable=False),
              placement("batch-a", "sweep", CAMBRIDGE, "10:00", "16:00", 300)):
        observe(_out(PLACEMENTS, env(p), CAMBRIDGE))
    assert _value(reg, "compflex_orders", state="selected") == 1
    assert _value(reg, "compflex_orders", state="confirmed") == 1
    assert _value(reg, "compflex_placements_total", site=CAMBRIDGE) == 2
    observe(_out(PLACEMENTS, env(placement("batch-b", "main", MANCHESTER, "14:00", "18:00",
                                           1200)), MANCHESTER))
    assert _value(reg, "compflex_orders", state="selected") == 0
    assert _value(reg, "compflex_orders", state="confirmed") == 2
    assert _value(reg, "compflex_placements_total", site=MANCHESTER) == 1


# ---- load-shifter -------------------------------------------------------------------------------


def _command(site_id: str, action: CommandAction, kw: float, start: str, end: str,
             n: int) -> Out:
    c = SiteCommandIssued(command_id=f"c{n}", site_id=site_id, action=action, power_kw=kw,
                          start=at(start), end=at(end), event_id=STRESS_ID, reason="test")
    return _out(COMMANDS, env(c, time=at("14:00")), site_id)


def test_the_stress_response_sets_shifted_battery_and_shortfall_per_site() -> None:
    observe, reg = _observer(shifter_metrics)
    commands = [
        _command(CAMBRIDGE, CommandAction.PAUSE_JOB, 300, "14:00", "16:00", 0),
        _command(MANCHESTER, CommandAction.START_JOB, 300, "14:00", "16:00", 1),
        _command(CAMBRIDGE, CommandAction.BATTERY_DISCHARGE, 150, "14:00", "16:00", 2),
        _command(CAMBRIDGE, CommandAction.BATTERY_CHARGE, 200, "22:00", "23:40", 3),
    ]
    for c in commands:
        observe(c)
    observe(_out(RESPONSES, env(ResponseDispatched(
        event_id=STRESS_ID, site_id=CAMBRIDGE, requested_kw=450, shifted_kw=300,
        shifted_to=(MANCHESTER,), battery_kw=150, shortfall_kw=0,
        command_ids=("c0", "c1", "c2", "c3"), start=at("14:00"), end=at("16:00"))), CAMBRIDGE))
    assert _value(reg, "fulfilment_shifted_kw", site=CAMBRIDGE) == 300
    assert _value(reg, "fulfilment_battery_kw", site=CAMBRIDGE) == 150
    assert _value(reg, "fulfilment_shortfall_kw", site=CAMBRIDGE) == 0
    for site_id, action in ((CAMBRIDGE, "pause_job"), (MANCHESTER, "start_job"),
                            (CAMBRIDGE, "battery_discharge"), (CAMBRIDGE, "battery_charge")):
        assert _value(reg, "fulfilment_commands_total", site=site_id, action=action) == 1
    assert _value(reg, "fulfilment_commands_total", site=MANCHESTER, action="pause_job") is None


# ---- metering-validator -------------------------------------------------------------------------


def _verified(delivered_kw: float, kwh: float, net_kw: float, verdict: Verdict,
              event_id: str = STRESS_ID) -> Out:
    v = FlexibilityVerified(
        event_id=event_id, order_id=CAM_ORDER, transaction_id=CAMBRIDGE_TXN,
        site_id=CAMBRIDGE, start=at("14:00"), end=at("16:00"), requested_kw=450,
        baseline_kw=1200, metered_kw=1200 - delivered_kw, delivered_kw=delivered_kw,
        delivered_kwh=kwh, delivered_pct=100 * delivered_kw / 450, verdict=verdict,
        receiving=(SiteDelta(site_id=MANCHESTER, baseline_kw=1200, metered_kw=1500),),
        net_system_kw=net_kw)
    return _out(VERIFICATIONS, env(v, time=at("16:00")), CAMBRIDGE)


def test_a_verification_sets_delivered_kw_kwh_and_net_system_per_event() -> None:
    observe, reg = _observer(validator_metrics)
    assert {v.value: _value(reg, "flexibility_verifications_total", verdict=v.value)
            for v in Verdict} == {"delivered": 0, "partial": 0, "failed": 0}
    # Cambridge 1200 nominated - 750 imported = 450 kW for 2 h; Manchester +300 kW
    observe(_verified(450, 900, 150, Verdict.DELIVERED))
    labels = {"site": CAMBRIDGE, "event": STRESS_ID}
    assert _value(reg, "flexibility_verified_kw", **labels) == 450
    assert _value(reg, "flexibility_delivered_kwh", **labels) == 900
    assert _value(reg, "flexibility_net_system_kw", event=STRESS_ID) == 150
    assert _value(reg, "flexibility_verifications_total", verdict="delivered") == 1
    observe(_verified(200, 400, -100, Verdict.PARTIAL, event_id="stress-2"))
    assert _value(reg, "flexibility_verified_kw", site=CAMBRIDGE, event="stress-2") == 200
    assert _value(reg, "flexibility_verified_kw", **labels) == 450
    assert _value(reg, "flexibility_verifications_total", verdict="partial") == 1


# ---- settlement ---------------------------------------------------------------------------------


def _statement() -> SettlementStatementIssued:
    """The seed day's figures (docs/scenarios.md)."""
    cam_kwh = 4800 + 1500 + 300 / 0.9
    sites = (
        SiteSettlement(site_id=CAMBRIDGE, zone="UK-EAST", energy_kwh=cam_kwh,
                       cost_gbp=710.9333, carbon_kg=399.8, baseline_energy_kwh=7200,
                       baseline_cost_gbp=806.40, baseline_carbon_kg=494.4,
                       load_kw_before_event=1200, load_kw_after_event=900,
                       import_kw_after_event=750, missing_readings=0),
        SiteSettlement(site_id=MANCHESTER, zone="UK-NW", energy_kwh=5400, cost_gbp=496.80,
                       carbon_kg=270.0, baseline_energy_kwh=4800, baseline_cost_gbp=441.60,
                       baseline_carbon_kg=240.0, load_kw_before_event=1200,
                       load_kw_after_event=1500, import_kw_after_event=1500,
                       missing_readings=0),
    )
    orders = (
        OrderSettlement(order_id=CAM_ORDER, transaction_id=CAMBRIDGE_TXN, site_id=CAMBRIDGE,
                        energy_kwh=cam_kwh, cost_gbp=710.9333, carbon_kg=399.8,
                        baseline_cost_gbp=806.40, baseline_carbon_kg=494.4,
                        flex_payment_gbp=135.0),
        OrderSettlement(order_id=MAN_ORDER, transaction_id=MANCHESTER_TXN, site_id=MANCHESTER,
                        energy_kwh=5400, cost_gbp=496.80, carbon_kg=270.0,
                        baseline_cost_gbp=441.60, baseline_carbon_kg=240.0,
                        flex_payment_gbp=0.0),
    )
    return SettlementStatementIssued(
        day_start=at("00:00"), day_end=at("24:00"), sites=sites, orders=orders, shifted_kw=300,
        battery_kw=150, verified_kw=450, verified_kwh=900, net_system_kw=150,
        flex_payment_gbp=135, baseline_cost_gbp=1248.0, actual_cost_gbp=1207.7333,
        baseline_carbon_kg=734.4, actual_carbon_kg=669.8)


def test_the_statement_sets_cost_carbon_and_payment_per_order_and_energy_per_site() -> None:
    observe, reg = _observer(settlement_metrics)
    observe(_out(STATEMENTS, env(_statement(), time=at("24:00")), "2025-11-17"))
    cam_actual = {"order_id": CAM_ORDER, "basis": "actual"}
    cam_base = {"order_id": CAM_ORDER, "basis": "baseline"}
    assert _value(reg, "settlement_cost_gbp", **cam_actual) == pytest.approx(710.9333)
    assert _value(reg, "settlement_cost_gbp", **cam_base) == pytest.approx(806.40)
    assert _value(reg, "settlement_carbon_kg", **cam_actual) == pytest.approx(399.8)
    assert _value(reg, "settlement_carbon_kg", **cam_base) == pytest.approx(494.4)
    assert _value(reg, "settlement_flex_payment_gbp", order_id=CAM_ORDER) == 135
    assert _value(reg, "settlement_cost_gbp", order_id=MAN_ORDER,
                  basis="actual") == pytest.approx(496.80)
    assert _value(reg, "settlement_flex_payment_gbp", order_id=MAN_ORDER) == 0
    assert _value(reg, "settlement_site_energy_kwh", site=CAMBRIDGE) == pytest.approx(
        4800 + 1500 + 300 / 0.9)
    assert _value(reg, "settlement_site_energy_kwh", site=MANCHESTER) == pytest.approx(5400)
    assert _value(reg, "settlement_orders_completed_total") == 0


def test_each_on_status_completed_counts_one_order() -> None:
    observe, reg = _observer(settlement_metrics)
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order), (MANCHESTER_TXN, manchester_order)):
        observe(_out(BECKN_STATUSES, beckn(Action.ON_STATUS, txn, order(
            OrderStatus.COMPLETED, confirmed=True)), txn))
    assert _value(reg, "settlement_orders_completed_total") == 2


# ---- every service ------------------------------------------------------------------------------


OBSERVERS = [site_metrics, grid_metrics, planner_metrics, shifter_metrics, validator_metrics,
             settlement_metrics]


@pytest.mark.parametrize("module", OBSERVERS, ids=lambda m: m.__name__.split(".")[1])
def test_outputs_of_other_kinds_are_ignored(module: Any) -> None:
    observe, reg = _observer(module)
    before = generate_latest(reg)
    observe(_out(BECKN_ORDERS, beckn(Action.DISCOVER, CAMBRIDGE_TXN,
                                     DiscoverMessage(text_search="windows"))))
    observe(_out(COMMANDS, tick("14:00")))
    assert generate_latest(reg) == before


def test_every_service_serves_its_domain_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each composition root creates the metrics on the registry its /metrics serves."""
    from services.grid_signal.bootstrap import bootstrap as grid
    from services.grid_signal.settings import GridSignalSettings
    from services.load_shifter.bootstrap import bootstrap as shifter
    from services.load_shifter.settings import LoadShifterSettings
    from services.metering_validator.bootstrap import bootstrap as validator
    from services.metering_validator.settings import MeteringValidatorSettings
    from services.planner.bootstrap import bootstrap as planner
    from services.planner.settings import PlannerSettings
    from services.settlement.bootstrap import bootstrap as settlement
    from services.settlement.settings import SettlementSettings
    from services.site_simulator.bootstrap import bootstrap as site
    from services.site_simulator.settings import SiteSimulatorSettings

    for key in [k for k in os.environ if k.startswith("DEGFLEX_")]:
        monkeypatch.delenv(key)
    seed = Path(__file__).resolve().parents[2] / "scenarios" / "seed-cambridge-manchester.yaml"
    runners = {
        "grid_zone_renewable_ratio": grid(GridSignalSettings(scenario=seed)),
        "compflex_orders": planner(PlannerSettings()),
        "fulfilment_commands_total": shifter(LoadShifterSettings()),
        "flexibility_verifications_total": validator(MeteringValidatorSettings()),
        "settlement_orders_completed_total": settlement(SettlementSettings()),
        "site_load_kw": site(SiteSimulatorSettings()),
    }
    for name, runner in runners.items():
        text = generate_latest(runner.metrics.registry).decode()
        kind = "counter" if name.endswith("_total") else "gauge"
        assert f"# TYPE {name} {kind}" in text, name
        assert "# TYPE stream_messages_consumed_total counter" in text
