"""The replay's pure parts: the scenario as inventory events, the tick schedule, the summary."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.events import (
    BatterySpec,
    JobPart,
    JobSubmitted,
    SettlementStatementIssued,
    SiteRegistered,
)
from contracts.scenario import Scenario
from rules.settlement import reduction_pct


def sites_of(sc: Scenario) -> list[SiteRegistered]:
    out = []
    for s in sc.sites:
        battery = None
        if s.battery is not None:
            recharge = sc.at(s.battery_recharge_from) if s.battery_recharge_from else None
            battery = BatterySpec(**s.battery.model_dump(), recharge_from=recharge)
        out.append(SiteRegistered(site_id=s.id, name=s.name, zone=s.zone,
                                  it_capacity_kw=s.it_capacity_kw, battery=battery))
    return out


def jobs_of(sc: Scenario) -> list[JobSubmitted]:
    return [JobSubmitted(
        job_id=j.id, name=j.name, home_site=j.home_site, earliest_start=sc.at(j.earliest_start),
        deadline=sc.at(j.deadline), duration_h=j.duration_h,
        carbon_target_g_per_kwh=j.carbon_target_g_per_kwh,
        parts=tuple(JobPart(part_id=p.id, power_kw=p.power_kw, gpus=p.gpus, critical=p.critical,
                            migratable=p.migratable) for p in j.parts)) for j in sc.jobs]


def tick_times(sc: Scenario) -> list[datetime]:
    """Every period boundary of the day (end included), discovery and stress boundaries."""
    ticks = {sc.day_start + timedelta(minutes=m)
             for m in range(0, 24 * 60 + 1, sc.period_minutes)}
    ticks.add(sc.at(sc.discovery_at))
    for e in sc.stress_events:
        ticks.update({sc.at(e.from_), sc.at(e.to)})
    return sorted(ticks)


def summarise(sc: Scenario, st: SettlementStatementIssued, latency_ms: float | None,
              beckn_messages: int, dead_letters: int) -> dict[str, Any]:
    """summary.json: the figures other tools read (all from the settlement statement)."""
    r = lambda x: round(x, 4)  # noqa: E731
    return {
        "scenario": sc.name,
        "day": sc.day.isoformat(),
        "sites": {s.site_id: {
            "zone": s.zone,
            "load_kw_before_event": r(s.load_kw_before_event),
            "load_kw_after_event": r(s.load_kw_after_event),
            "grid_import_kw_after_event": r(s.import_kw_after_event),
            "energy_kwh": r(s.energy_kwh), "cost_gbp": r(s.cost_gbp), "carbon_kg": r(s.carbon_kg),
            "baseline_energy_kwh": r(s.baseline_energy_kwh),
            "baseline_cost_gbp": r(s.baseline_cost_gbp),
            "baseline_carbon_kg": r(s.baseline_carbon_kg),
            "missing_readings": s.missing_readings,
        } for s in st.sites},
        "flexibility": {
            "shifted_kw": r(st.shifted_kw), "battery_kw": r(st.battery_kw),
            "verified_kw": r(st.verified_kw), "verified_kwh": r(st.verified_kwh),
            "net_system_kw": r(st.net_system_kw), "payment_gbp": r(st.flex_payment_gbp),
        },
        "totals": {
            "baseline_cost_gbp": r(st.baseline_cost_gbp), "actual_cost_gbp": r(st.actual_cost_gbp),
            "cost_reduction_pct": r(reduction_pct(st.baseline_cost_gbp, st.actual_cost_gbp)),
            "baseline_carbon_kg": r(st.baseline_carbon_kg),
            "actual_carbon_kg": r(st.actual_carbon_kg),
            "carbon_reduction_pct": r(reduction_pct(st.baseline_carbon_kg, st.actual_carbon_kg)),
            "flex_payment_gbp": r(st.flex_payment_gbp),
            "net_cost_gbp": r(st.actual_cost_gbp - st.flex_payment_gbp),
        },
        "orders": [o.model_dump(mode="json") for o in st.orders],
        "response_latency_ms": latency_ms,
        "beckn_messages": beckn_messages,
        "dead_letters": dead_letters,
    }


def table(summary: dict[str, Any]) -> str:
    """The short human summary printed at the end of a demo."""
    lines = [f"{'site':<16}{'before kW':>11}{'after kW':>10}{'import kW':>11}{'kWh':>11}"
             f"{'£':>10}{'kgCO2':>10}"]
    for sid, s in summary["sites"].items():
        lines.append(f"{sid:<16}{s['load_kw_before_event']:>11.1f}{s['load_kw_after_event']:>10.1f}"
                     f"{s['grid_import_kw_after_event']:>11.1f}{s['energy_kwh']:>11.1f}"
                     f"{s['cost_gbp']:>10.2f}{s['carbon_kg']:>10.1f}")
    f, t = summary["flexibility"], summary["totals"]
    lines += [
        "",
        f"shifted {f['shifted_kw']:g} kW, battery {f['battery_kw']:g} kW, verified "
        f"{f['verified_kw']:g} kW ({f['verified_kwh']:g} kWh), net system {f['net_system_kw']:g} kW",
        f"cost   £{t['baseline_cost_gbp']:.2f} -> £{t['actual_cost_gbp']:.2f} "
        f"({t['cost_reduction_pct']:.2f}% less); flexibility payment £{t['flex_payment_gbp']:.2f}",
        f"carbon {t['baseline_carbon_kg']:.1f} kg -> {t['actual_carbon_kg']:.1f} kg "
        f"({t['carbon_reduction_pct']:.2f}% less)",
        f"stress event -> shift commands published: {summary['response_latency_ms']} ms",
    ]
    return "\n".join(lines)
