"""Recompute a settled entry with settlement's own pure functions and compare to what it recorded.

The auditor's one reach into another service: settlement's domain module is imported (not
copied), so the check runs today's rules on the recorded inputs. Money compares to the penny,
carbon to the gram, energy to the watt-hour, power to the watt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from contracts.audit import AuditBody, OrderSnapshot, SettledInputs, Stage
from contracts.compute_energy.vocab import SettlementMetrics
from contracts.events import MeterReadingRecorded, SiteSettlement
from services.audit.handlers import dataset_version
from services.settlement.domain import ZoneSeries, flex_payment_gbp, settle_site

TOLERANCE = (("gbp", 0.005), ("kg", 0.0005), ("kwh", 0.0005), ("kw", 0.0005))


def _tolerance(name: str) -> float:
    """Half the unit the figure is judged in (by the unit in its name); counts exactly."""
    for unit, tol in TOLERANCE:
        if f"_{unit}" in name:
            return tol
    return 0.0


def _differ(what: str, recorded: float, recomputed: float) -> str | None:
    if abs(recorded - recomputed) > _tolerance(what) + 1e-9:
        return f"{what} recorded {recorded!r}, recomputed {recomputed!r}"
    return None


def recompute_site(inp: SettledInputs, site_id: str) -> SiteSettlement:
    lines = [item.attributes for item in inp.order.items]
    readings = [MeterReadingRecorded(site_id=site_id, start=s, end=e, import_kwh=i, load_kwh=ld,
                                     battery_discharge_kwh=b)
                for s, e, i, ld, b in inp.readings]
    res = readings[0].end - readings[0].start if readings else timedelta(minutes=1)
    expected = int((inp.day_end - inp.day_start) / res)
    return settle_site(site_id, inp.zone, ZoneSeries.of(inp.signals), lines, readings, expected,
                       inp.event_span)


def recompute_payment(inp: SettledInputs) -> float:
    rates = {e.event_id: e.utilisation_payment_gbp_per_mwh for e in inp.stress_events}
    return round(sum(flex_payment_gbp(rates[v.event_id], v.delivered_kwh, v.delivered_pct)
                     for v in inp.verifications), 6)


def check_settled(body: AuditBody) -> list[str]:
    """Every way the entry's recorded settlement differs from its recomputation (empty: none)."""
    inp = SettledInputs.model_validate(body.inputs)
    site_id = body.site_id or ""
    problems: list[str] = []
    if inp.dataset_version != dataset_version(inp.signals):
        problems.append("dataset_version is not the digest of the signals recorded")
    if inp.recorded_site.site_id != site_id or inp.recorded_order.order_id != body.order_id:
        problems.append("recorded figures belong to another site or order")
    missing = {v.event_id for v in inp.verifications} - {e.event_id for e in inp.stress_events}
    if missing:
        return [*problems, f"no stress event recorded for {sorted(missing)}"]
    site = recompute_site(inp, site_id)
    for name, recorded in inp.recorded_site.model_dump().items():
        if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
            p = _differ(f"site {name}", float(recorded), float(getattr(site, name)))
            if p:
                problems.append(p)
    o = inp.recorded_order
    for name, value in (("energy_kwh", site.energy_kwh), ("cost_gbp", site.cost_gbp),
                        ("carbon_kg", site.carbon_kg),
                        ("baseline_cost_gbp", site.baseline_cost_gbp),
                        ("baseline_carbon_kg", site.baseline_carbon_kg),
                        ("flex_payment_gbp", recompute_payment(inp))):
        p = _differ(f"order {name}", getattr(o, name), value)
        if p:
            problems.append(p)
    return problems


def check_closed(body: AuditBody, settled: Sequence[AuditBody]) -> list[str]:
    """The on_status metrics match the order's settled entry (as rounded on the wire)."""
    mine = [b for b in settled if b.stage == Stage.SETTLED and b.order_id == body.order_id]
    if not mine:
        return ["closed before any settled entry for the order"]
    inp = SettledInputs.model_validate(mine[-1].inputs)
    metrics = OrderSnapshot.model_validate(body.inputs).order.attributes
    if not isinstance(metrics, SettlementMetrics):
        return ["closed entry carries no settlement metrics"]
    o = inp.recorded_order
    problems = []
    for name, recorded, settled_value in (
            ("cost_gbp", metrics.cost_gbp, o.cost_gbp),
            ("carbon_kg", metrics.carbon_kg, o.carbon_kg),
            ("baseline_cost_gbp", metrics.baseline_cost_gbp, o.baseline_cost_gbp),
            ("baseline_carbon_kg", metrics.baseline_carbon_kg, o.baseline_carbon_kg),
            ("flex_payment_gbp", metrics.flex_payment_gbp, o.flex_payment_gbp)):
        p = _differ(f"on_status {name}", recorded, settled_value)
        if p:
            problems.append(p)
    return problems
