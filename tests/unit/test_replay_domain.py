"""The replay's pure parts: the scenario as inventory events and the tick schedule."""

from __future__ import annotations

from services.replay.domain import jobs_of, sites_of, tick_times

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
