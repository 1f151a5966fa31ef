"""Recompute a day's settlement from its settled entries with settlement's own pure `settle_day`.

The rules are the ones settlement runs, from the shared pure package `rules` (not a copy, and
not settlement's service folder). The inputs are rebuilt with the same `assemble` settlement
builds them with, so they must hash to the statement's `inputs_digest`; then every
recorded figure of each order, its site and its events must equal the recomputed one: money to
the penny, carbon to the gram, energy to the watt-hour, power to the watt, the rest exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.audit import AuditBody, OrderSnapshot, SettledInputs, Stage
from contracts.compute_energy.vocab import SettlementMetrics
from rules.settlement import (
    SettlementConfig,
    SettlementInputError,
    SettlementInputs,
    settle_day,
)
from rules.settlement_inputs import assemble, order_input
from services.audit.handlers import dataset_version

TOLERANCE = (("gbp", 0.005), ("kg", 0.0005), ("kwh", 0.0005), ("kw", 0.0005))


def _tolerance(name: str) -> float:
    """Half the unit the figure is judged in (by the unit in its name); other numbers exactly
    up to float noise."""
    for unit, tol in TOLERANCE:
        if f"_{unit}" in name:
            return tol
    return 1e-9


def differences(what: str, recorded: Any, recomputed: Any) -> list[str]:
    """Where two dumped figures differ, as `path recorded X, recomputed Y` lines."""
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        out = []
        for k in sorted(set(recorded) | set(recomputed)):
            out += differences(f"{what}.{k}", recorded.get(k), recomputed.get(k))
        return out
    if isinstance(recorded, list | tuple) and isinstance(recomputed, list | tuple):
        if len(recorded) != len(recomputed):
            return [f"{what} recorded {len(recorded)} rows, recomputed {len(recomputed)}"]
        out = []
        for i, (a, b) in enumerate(zip(recorded, recomputed, strict=True)):
            out += differences(f"{what}[{i}]", a, b)
        return out
    numbers = (int, float)
    if (isinstance(recorded, numbers) and isinstance(recomputed, numbers)
            and not isinstance(recorded, bool)):
        if abs(recorded - recomputed) <= _tolerance(what.rsplit(".", 1)[-1]) + 1e-9:
            return []
    elif recorded == recomputed:
        return []
    return [f"{what} recorded {recorded!r}, recomputed {recomputed!r}"]


def rebuild(parts: Sequence[SettledInputs]) -> SettlementInputs:
    """The day's inputs from its settled entries, assembled as settlement assembles them."""
    p0 = parts[0]
    return assemble(
        day_start=p0.day_start, day_end=p0.day_end,
        config=SettlementConfig.model_validate(p0.config),
        orders=(order_input(p.transaction_id, p.order) for p in parts),
        signals=(s for p in parts for s in p.signals),
        readings=(r for p in parts for r in p.readings),
        events=(e for p in parts for e in p.events),
        verifications=(v for p in parts for v in p.verifications),
        responses=(r for p in parts for r in p.responses))


def check_statement(bodies: Sequence[AuditBody]) -> tuple[AuditBody, str] | None:
    """The settled entries of one statement: the first one whose figures do not recompute,
    with why; None when all do."""
    parts = [SettledInputs.model_validate(b.inputs) for b in bodies]
    first = bodies[0]
    for b, p in zip(bodies, parts, strict=True):
        if p.dataset_version != dataset_version(p.signals):
            return b, "dataset_version is not the digest of the signals recorded"
        if (p.statement_orders, p.config, p.inputs_digest) != (
                parts[0].statement_orders, parts[0].config, parts[0].inputs_digest):
            return b, "its statement details differ from the other settled entries'"
    missing = set(parts[0].statement_orders) - {b.order_id for b in bodies}
    if missing:
        return bodies[-1], f"no settled entry for {sorted(missing)} of the statement"
    inputs = rebuild(parts)
    if inputs.config.digest() != parts[0].config_digest:
        return first, "the settlement config recorded is not the one the statement names"
    if inputs.digest() != parts[0].inputs_digest:
        return first, ("the inputs recorded do not hash to the statement's inputs_digest "
                       f"({inputs.digest()} != {parts[0].inputs_digest})")
    try:
        day = settle_day(inputs).statement
    except SettlementInputError as exc:
        return first, f"settlement refuses the recorded inputs: {exc}"
    for b, p in zip(bodies, parts, strict=True):
        site = next(s for s in day.sites if s.site_id == p.recorded_site.site_id)
        order = next(o for o in day.orders if o.order_id == p.recorded_order.order_id)
        events = [e for e in day.events if e.transaction_id == p.transaction_id]
        diffs = (differences("site", p.recorded_site.model_dump(mode="json"),
                             site.model_dump(mode="json"))
                 + differences("order", p.recorded_order.model_dump(mode="json"),
                               order.model_dump(mode="json"))
                 + differences("events", [e.model_dump(mode="json") for e in p.recorded_events],
                               [e.model_dump(mode="json") for e in events]))
        if diffs:
            return b, "; ".join(diffs[:5])
    return None


def check_closed(body: AuditBody, earlier: Sequence[AuditBody]) -> list[str]:
    """The on_status metrics match the order's settled entry (as rounded on the wire)."""
    mine = [b for b in earlier if b.stage == Stage.SETTLED and b.order_id == body.order_id]
    if not mine:
        return ["closed before any settled entry for the order"]
    o = SettledInputs.model_validate(mine[-1].inputs).recorded_order
    metrics = OrderSnapshot.model_validate(body.inputs).order.attributes
    if not isinstance(metrics, SettlementMetrics):
        return ["closed entry carries no settlement metrics"]
    out: list[str] = []
    for name in ("energy_kwh", "cost_gbp", "carbon_kg", "baseline_cost_gbp",
                 "baseline_carbon_kg", "flex_payment_gbp"):
        out += differences(f"on_status {name}", getattr(metrics, name), getattr(o, name))
    return out
