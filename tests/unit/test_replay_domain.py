"""The replay's pure parts: scenario to inventory events, the tick schedule, the summary."""

from __future__ import annotations

import pytest

from contracts.events import SettlementStatementIssued, SiteSettlement
from services.replay.domain import jobs_of, sites_of, summarise, tick_times

from .factories import CAMBRIDGE, MANCHESTER, at, scenario, seed, seed_doc


def test_sites_carry_their_battery_with_its_recharge_instant() -> None:
    cambridge, manchester = sites_of(seed())

    assert (cambridge.site_id, cambridge.zone, cambridge.it_capacity_kw) == (CAMBRIDGE, "UK-EAST",
                                                                             1500)
    assert cambridge.battery is not None
    assert (cambridge.battery.power_kw, cambridge.battery.energy_kwh) == (200, 400)
    assert cambridge.battery.recharge_from == at("22:00")
    assert (manchester.site_id, manchester.battery) == (MANCHESTER, None)


def test_jobs_are_placed_on_the_scenario_day() -> None:
    a, b = jobs_of(seed())

    assert (a.job_id, a.home_site, a.earliest_start, a.deadline) == (
        "batch-a", CAMBRIDGE, at("10:00"), at("16:00"))
    assert a.power_kw == 1200  # 900 core + 300 sweep
    assert [(p.part_id, p.critical, p.migratable) for p in a.parts] == [
        ("core", True, False), ("sweep", False, True)]
    assert (b.job_id, b.home_site, b.power_kw, b.duration_h) == ("batch-b", None, 1200, 4)


def test_ticks_are_every_period_boundary_of_the_day() -> None:
    ticks = tick_times(seed())

    assert len(ticks) == 49  # 00:00, 00:30, ..., 24:00; 08:00, 14:00, 16:00 are among them
    assert (ticks[0], ticks[-1]) == (at("00:00"), at("24:00"))
    assert ticks == sorted(set(ticks))


def test_discovery_and_stress_boundaries_off_the_period_grid_get_their_own_ticks() -> None:
    doc = seed_doc()
    doc["discovery_at"] = "08:10"
    doc["stress_events"][0].update({"from": "14:05", "to": "15:55"})

    ticks = tick_times(scenario(doc))

    assert len(ticks) == 52  # 49 + 08:10 + 14:05 + 15:55
    assert {at("08:10"), at("14:05"), at("15:55")} <= set(ticks)


def test_the_summary_derives_reductions_and_net_cost_from_the_statement() -> None:
    def site(site_id: str, cost: float, base_cost: float, co2: float,
             base_co2: float) -> SiteSettlement:
        return SiteSettlement(site_id=site_id, zone="Z", energy_kwh=0, cost_gbp=cost,
                              carbon_kg=co2, baseline_energy_kwh=0, baseline_cost_gbp=base_cost,
                              baseline_carbon_kg=base_co2, load_kw_before_event=0,
                              load_kw_after_event=0, import_kw_after_event=0, missing_readings=0)

    st = SettlementStatementIssued(
        day_start=at("00:00"), day_end=at("24:00"),
        sites=(site(CAMBRIDGE, 710.933333, 806.4, 820.333333, 984),
               site(MANCHESTER, 496.8, 441.6, 594, 528)),
        orders=(), shifted_kw=300, battery_kw=150, verified_kw=450, verified_kwh=900,
        net_system_kw=150, flex_payment_gbp=135, baseline_cost_gbp=1248,
        actual_cost_gbp=1207.733333, baseline_carbon_kg=1512, actual_carbon_kg=1414.333333)

    totals = summarise(seed(), st, 12.0, 21, 0)["totals"]

    assert totals["cost_reduction_pct"] == pytest.approx(3.2265)  # (1248 - 1207.7333) / 1248
    assert totals["carbon_reduction_pct"] == pytest.approx(6.4594)  # (1512 - 1414.3333) / 1512
    assert totals["net_cost_gbp"] == pytest.approx(1072.7333)  # 1207.7333 - 135 payment
