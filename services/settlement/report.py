"""Settlement reports of one settled day, per day and per transaction, as files: the energy
use log per data centre (CSV), the carbon report before vs after, the cost savings summary,
the flexibility verification (JSON and CSV) and one self-contained HTML page with charts
(inline SVG drawn by matplotlib). Input: the day's statement and its per-site records, as
settlement published them; every figure shown is read from them, none is recomputed.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts.events import (
    OrderSettlement,
    SettlementStatementIssued,
    SiteDaySettled,
)
from rules.settlement import reduction_pct

ENERGY_LOG_COLUMNS = (
    "site_id", "zone", "order_id", "start", "end", "metered_hours", "import_kwh", "load_kwh",
    "battery_discharge_kwh", "baseline_kwh", "price_gbp_per_kwh", "carbon_g_per_kwh",
    "marginal_carbon_g_per_kwh", "cost_gbp", "baseline_cost_gbp", "carbon_kg",
    "baseline_carbon_kg", "marginal_carbon_kg", "baseline_marginal_carbon_kg")
CARBON_COLUMNS = (
    "scope", "site_id", "order_id", "transaction_id", "baseline_kg", "actual_kg", "change_kg",
    "reduction_pct", "battery_recharge_kg", "baseline_marginal_kg", "actual_marginal_kg",
    "method")
COST_COLUMNS = (
    "scope", "site_id", "order_id", "transaction_id", "baseline_gbp", "actual_gbp", "saving_gbp",
    "saving_pct", "battery_recharge_gbp", "saving_before_recharge_gbp",
    "utilisation_payment_gbp", "availability_payment_gbp", "net_benefit_gbp", "net_bill_gbp")
VERIFICATION_COLUMNS = (
    "event_id", "site_id", "order_id", "transaction_id", "start", "end", "requested_kw",
    "baseline_kw", "metered_kw", "delivered_kw", "delivered_kwh", "delivered_pct", "verdict",
    "performance_factor", "utilisation_rate_gbp_per_mwh", "paid_kwh",
    "utilisation_payment_gbp", "net_system_kw")


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class SettledDay:
    """A day's statement with the per-site records that preceded it."""

    statement: SettlementStatementIssued
    sites: tuple[SiteDaySettled, ...]

    @classmethod
    def of(cls, statement: SettlementStatementIssued,
           records: Sequence[SiteDaySettled]) -> SettledDay:
        mine = {r.site_id: r for r in records
                if (r.day_start, r.day_end) == (statement.day_start, statement.day_end)}
        missing = [s.site_id for s in statement.sites if s.site_id not in mine]
        if missing:
            raise ReportError(f"day {statement.day_start.date()}: no interval records for "
                              f"{', '.join(missing)}")
        return cls(statement, tuple(mine[s.site_id] for s in statement.sites))

    @property
    def day(self) -> str:
        return self.statement.day_start.date().isoformat()


def _iso(t: datetime) -> str:
    return t.isoformat()


def _num(x: float | None) -> float | str:
    return "" if x is None else round(x, 6)


# ---- tables ----------------------------------------------------------------------------------


def energy_rows(day: SettledDay, order_id: str | None = None) -> list[dict[str, Any]]:
    """One row per site and interval (order_id set: that order's share of its site)."""
    rows = []
    for sd in day.sites:
        if order_id is not None and not any(
                o.site_id == sd.site_id and o.order_id == order_id for o in day.statement.orders):
            continue
        ivs = sd.rows(order_id)
        for i in ivs:
            rows.append({
                "site_id": sd.site_id, "zone": sd.zone, "order_id": i.order_id or order_id or "",
                "start": _iso(i.start), "end": _iso(i.end), "metered_hours": i.metered_hours,
                "import_kwh": i.energy_kwh, "load_kwh": i.load_kwh,
                "battery_discharge_kwh": i.battery_discharge_kwh, "baseline_kwh": i.baseline_kwh,
                "price_gbp_per_kwh": i.price_gbp_per_kwh, "carbon_g_per_kwh": i.carbon_g_per_kwh,
                "marginal_carbon_g_per_kwh": _num(i.marginal_carbon_g_per_kwh),
                "cost_gbp": i.cost_gbp, "baseline_cost_gbp": i.baseline_cost_gbp,
                "carbon_kg": i.carbon_kg, "baseline_carbon_kg": i.baseline_carbon_kg,
                "marginal_carbon_kg": _num(i.marginal_carbon_kg),
                "baseline_marginal_carbon_kg": _num(i.baseline_marginal_carbon_kg)})
    return rows


def _carbon_row(scope: str, site_id: str, order_id: str, txn: str, base: float, actual: float,
                recharge: float, bm: float | None, am: float | None) -> dict[str, Any]:
    return {"scope": scope, "site_id": site_id, "order_id": order_id, "transaction_id": txn,
            "baseline_kg": round(base, 6), "actual_kg": round(actual, 6),
            "change_kg": round(actual - base, 6), "reduction_pct": reduction_pct(base, actual),
            "battery_recharge_kg": round(recharge, 6), "baseline_marginal_kg": _num(bm),
            "actual_marginal_kg": _num(am), "method": "location-based"}


def carbon_rows(day: SettledDay, transaction_id: str | None = None) -> list[dict[str, Any]]:
    st = day.statement
    rows = []
    if transaction_id is None:
        rows.append(_carbon_row("day", "", "", "", st.baseline_carbon_kg, st.actual_carbon_kg,
                                st.battery_recharge_carbon_kg, st.baseline_marginal_carbon_kg,
                                st.actual_marginal_carbon_kg))
        for s in st.sites:
            rows.append(_carbon_row("site", s.site_id, "", "", s.baseline_carbon_kg, s.carbon_kg,
                                    s.battery_recharge_carbon_kg, s.baseline_marginal_carbon_kg,
                                    s.marginal_carbon_kg))
    site_recharge = {s.site_id: s for s in st.sites}
    for o in _orders(st, transaction_id):
        s = site_recharge[o.site_id]
        share = o.battery_recharge_cost_gbp / s.battery_recharge_cost_gbp \
            if s.battery_recharge_cost_gbp else 0.0
        rows.append(_carbon_row("order", o.site_id, o.order_id, o.transaction_id,
                                o.baseline_carbon_kg, o.carbon_kg,
                                s.battery_recharge_carbon_kg * share,
                                o.baseline_marginal_carbon_kg, o.marginal_carbon_kg))
    return rows


def _cost_row(scope: str, site_id: str, order_id: str, txn: str, base: float, actual: float,
              recharge: float, util: float, avail: float) -> dict[str, Any]:
    saving = base - actual
    return {"scope": scope, "site_id": site_id, "order_id": order_id, "transaction_id": txn,
            "baseline_gbp": round(base, 6), "actual_gbp": round(actual, 6),
            "saving_gbp": round(saving, 6), "saving_pct": reduction_pct(base, actual),
            "battery_recharge_gbp": round(recharge, 6),
            "saving_before_recharge_gbp": round(saving + recharge, 6),
            "utilisation_payment_gbp": round(util, 6), "availability_payment_gbp": round(avail, 6),
            "net_benefit_gbp": round(saving + util + avail, 6),
            "net_bill_gbp": round(actual - util - avail, 6)}


def cost_rows(day: SettledDay, transaction_id: str | None = None) -> list[dict[str, Any]]:
    st = day.statement
    rows = []
    if transaction_id is None:
        rows.append(_cost_row("day", "", "", "", st.baseline_cost_gbp, st.actual_cost_gbp,
                              st.battery_recharge_cost_gbp, st.utilisation_payment_gbp,
                              st.availability_payment_gbp))
        pay = {s.site_id: [0.0, 0.0] for s in st.sites}
        for o in st.orders:
            pay[o.site_id][0] += o.utilisation_payment_gbp
            pay[o.site_id][1] += o.availability_payment_gbp
        for s in st.sites:
            rows.append(_cost_row("site", s.site_id, "", "", s.baseline_cost_gbp, s.cost_gbp,
                                  s.battery_recharge_cost_gbp, *pay[s.site_id]))
    for o in _orders(st, transaction_id):
        rows.append(_cost_row("order", o.site_id, o.order_id, o.transaction_id,
                              o.baseline_cost_gbp, o.cost_gbp, o.battery_recharge_cost_gbp,
                              o.utilisation_payment_gbp, o.availability_payment_gbp))
    return rows


def verification_rows(day: SettledDay, transaction_id: str | None = None) -> list[dict[str, Any]]:
    return [{
        "event_id": e.event_id, "site_id": e.site_id, "order_id": e.order_id,
        "transaction_id": e.transaction_id, "start": _iso(e.start), "end": _iso(e.end),
        "requested_kw": e.requested_kw, "baseline_kw": e.baseline_kw, "metered_kw": e.metered_kw,
        "delivered_kw": e.delivered_kw, "delivered_kwh": e.delivered_kwh,
        "delivered_pct": e.delivered_pct, "verdict": e.verdict.value,
        "performance_factor": e.performance_factor,
        "utilisation_rate_gbp_per_mwh": e.utilisation_rate_gbp_per_mwh, "paid_kwh": e.paid_kwh,
        "utilisation_payment_gbp": e.utilisation_payment_gbp, "net_system_kw": e.net_system_kw,
    } for e in day.statement.events
        if transaction_id is None or e.transaction_id == transaction_id]


def _orders(st: SettlementStatementIssued, txn: str | None) -> list[OrderSettlement]:
    return [o for o in st.orders if txn is None or o.transaction_id == txn]


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def day_json(day: SettledDay) -> dict[str, Any]:
    st = day.statement
    return {
        "day": day.day, "day_start": _iso(st.day_start), "day_end": _iso(st.day_end),
        "interval_minutes": st.interval_minutes, "config_digest": st.config_digest,
        "inputs_digest": st.inputs_digest,
        "cost_savings": cost_rows(day), "carbon": carbon_rows(day),
        "flexibility_verification": {
            "events": verification_rows(day), "shifted_kw": st.shifted_kw,
            "battery_kw": st.battery_kw, "verified_kw": st.verified_kw,
            "verified_kwh": st.verified_kwh, "net_system_kw": st.net_system_kw},
        "statement": st.model_dump(mode="json"),
        "energy_log": {sd.site_id: energy_rows(SettledDay(st, (sd,))) for sd in day.sites},
    }


def transaction_json(day: SettledDay, o: OrderSettlement) -> dict[str, Any]:
    return {
        "day": day.day, "transaction_id": o.transaction_id, "order_id": o.order_id,
        "site_id": o.site_id, "order": o.model_dump(mode="json"),
        "cost_savings": cost_rows(day, o.transaction_id),
        "carbon": carbon_rows(day, o.transaction_id),
        "flexibility_verification": verification_rows(day, o.transaction_id),
        "energy_log": energy_rows(day, o.order_id),
    }


# ---- charts ----------------------------------------------------------------------------------


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _event_spans(st: SettlementStatementIssued, site_id: str | None = None
                 ) -> list[tuple[datetime, datetime, str]]:
    return sorted({(e.start, e.end, e.event_id) for e in st.events
                   if site_id is None or e.site_id == site_id})


def charts(day: SettledDay) -> dict[str, str]:
    """Inline SVGs: load per site (baseline vs metered, event shaded), price and intensity per
    zone, and cost and carbon before vs after per site."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "degflex-settlement"
    plt.rcParams["svg.fonttype"] = "none"
    st = day.statement
    out: dict[str, str] = {}
    n = len(day.sites)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.8 * n), sharex=True, squeeze=False)
    for ax, sd in zip(axes[:, 0], day.sites, strict=True):
        rows = sd.rows()
        t = [i.start for i in rows] + [rows[-1].end]
        h = [(i.end - i.start).total_seconds() / 3600 for i in rows]

        def kw(vals: Sequence[float], h: Sequence[float] = h) -> list[float]:
            per = [v / x for v, x in zip(vals, h, strict=True)]
            return [*per, per[-1]]

        ax.step(t, kw([i.baseline_kwh for i in rows]), where="post", color="grey",
                linestyle="--", label="baseline (nominated, no flex)")
        ax.step(t, kw([i.load_kwh for i in rows]), where="post", color="tab:blue",
                label="metered facility load")
        ax.step(t, kw([i.energy_kwh for i in rows]), where="post", color="tab:orange",
                label="metered grid import")
        for s, e, eid in _event_spans(st, None):
            ax.axvspan(s, e, color="tab:red", alpha=0.12, label=f"event {eid}")
        ax.set_ylabel("kW")
        ax.set_title(f"{sd.site_id} ({sd.zone})", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("UTC")
    fig.autofmt_xdate()
    out["load"] = _svg(fig)

    zones = {sd.zone: sd for sd in day.sites}
    fig, axes = plt.subplots(len(zones), 1, figsize=(10, 2.4 * len(zones)), sharex=True,
                             squeeze=False)
    for ax, (zone, sd) in zip(axes[:, 0], sorted(zones.items()), strict=True):
        rows = sd.rows()
        t = [i.start for i in rows] + [rows[-1].end]
        price = [i.price_gbp_per_kwh for i in rows]
        co2 = [i.carbon_g_per_kwh for i in rows]
        ax.step(t, [*price, price[-1]], where="post", color="tab:green", label="price £/kWh")
        ax.set_ylabel("£/kWh", color="tab:green")
        ax2 = ax.twinx()
        ax2.step(t, [*co2, co2[-1]], where="post", color="tab:purple",
                 label="intensity gCO2/kWh (location)")
        marg = [i.marginal_carbon_g_per_kwh for i in rows]
        if all(m is not None for m in marg):
            ax2.step(t, [*marg, marg[-1]], where="post", color="tab:purple", linestyle=":",
                     label="marginal gCO2/kWh")
        ax2.set_ylabel("gCO2/kWh", color="tab:purple")
        for s, e, _ in _event_spans(st):
            ax.axvspan(s, e, color="tab:red", alpha=0.12)
        ax.set_title(f"zone {zone}: prices and intensity in force", fontsize=10)
        ax.grid(alpha=0.3)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    out["signals"] = _svg(fig)

    fig, (cost, co2) = plt.subplots(1, 2, figsize=(10, 3))
    names = [s.site_id for s in st.sites]
    x = range(len(names))
    for ax, base, actual, unit in (
            (cost, [s.baseline_cost_gbp for s in st.sites], [s.cost_gbp for s in st.sites], "£"),
            (co2, [s.baseline_carbon_kg for s in st.sites], [s.carbon_kg for s in st.sites],
             "kgCO2")):
        ax.bar([i - 0.2 for i in x], base, 0.4, color="grey", label="before (baseline)")
        ax.bar([i + 0.2 for i in x], actual, 0.4, color="tab:blue", label="after (metered)")
        ax.set_xticks(list(x), names, fontsize=8)
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    cost.set_title("cost before vs after", fontsize=10)
    co2.set_title("carbon before vs after (location-based)", fontsize=10)
    out["before_after"] = _svg(fig)
    return out


# ---- HTML ------------------------------------------------------------------------------------


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.kpi{display:flex;gap:2em;flex-wrap:wrap}
.kpi div{background:#f6f8fa;padding:.6em 1em;border-radius:6px}.kpi b{font-size:1.3em}
svg{max-width:100%;height:auto}details{margin:.5em 0}"""


def render_html(day: SettledDay) -> str:
    st = day.statement
    svgs = charts(day)
    saving = st.baseline_cost_gbp - st.actual_cost_gbp
    kpis = [
        ("cost", f"£{st.baseline_cost_gbp:,.2f} → £{st.actual_cost_gbp:,.2f}",
         (f"{reduction_pct(st.baseline_cost_gbp, st.actual_cost_gbp):.2f}% less; saving "
         f"£{saving:,.2f} after £{st.battery_recharge_cost_gbp:,.2f} battery recharge")),
        ("carbon (location-based)",
         f"{st.baseline_carbon_kg:,.1f} → {st.actual_carbon_kg:,.1f} kg",
         f"{reduction_pct(st.baseline_carbon_kg, st.actual_carbon_kg):.2f}% less"),
        ("flexibility payment", f"£{st.flex_payment_gbp:,.2f}",
         (f"utilisation £{st.utilisation_payment_gbp:,.2f}, availability "
         f"£{st.availability_payment_gbp:,.2f}")),
        ("verified", f"{st.verified_kw:g} kW / {st.verified_kwh:g} kWh",
         f"net system {st.net_system_kw:g} kW"),
    ]
    if st.actual_marginal_carbon_kg is not None and st.baseline_marginal_carbon_kg is not None:
        kpis.append(("carbon (marginal, separate)",
                     (f"{st.baseline_marginal_carbon_kg:,.1f} → "
                     f"{st.actual_marginal_carbon_kg:,.1f} kg"), "not added to the above"))
    kpi = "".join(f"<div>{html.escape(k)}<br><b>{html.escape(v)}</b><br><small>"
                  f"{html.escape(d)}</small></div>" for k, v, d in kpis)
    txns = []
    for o in st.orders:
        items = [{"item": i.item_id, "slot": f"{i.slot_start:%H:%M}–{i.slot_end:%H:%M}",
                  "kWh": i.energy_kwh, "baseline kWh": i.baseline_energy_kwh, "£": i.cost_gbp,
                  "baseline £": i.baseline_cost_gbp, "kgCO2": i.carbon_kg,
                  "baseline kgCO2": i.baseline_carbon_kg, "verified kWh": i.verified_kwh,
                  "payment £": round(i.utilisation_payment_gbp + i.availability_payment_gbp, 6)}
                 for i in o.items]
        txns.append(
            f"<details><summary><b>{html.escape(o.order_id)}</b> — transaction "
            f"{html.escape(o.transaction_id)} at {html.escape(o.site_id)}</summary>"
            + _table(cost_rows(day, o.transaction_id), COST_COLUMNS)
            + _table(carbon_rows(day, o.transaction_id), CARBON_COLUMNS)
            + _table(items, list(items[0]) if items else [])
            + "</details>")
    energy = "".join(
        f"<details><summary>{html.escape(sd.site_id)}: {len(sd.site.energy_kwh)} intervals"
        "</summary>"
        + _table(energy_rows(SettledDay(st, (sd,))), ENERGY_LOG_COLUMNS) + "</details>"
        for sd in day.sites)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>degflex settlement {day.day}</title><style>{CSS}</style></head><body>
<h1>Settlement report — {day.day}</h1>
<p>{st.day_start:%Y-%m-%d %H:%M} – {st.day_end:%Y-%m-%d %H:%M} UTC, {st.interval_minutes}-minute
intervals; baseline = the confirmed orders' nominated load (no flexibility); prices and
intensities are those in force. Config {html.escape(st.config_digest)}, inputs
{html.escape(st.inputs_digest)}.</p>
<div class="kpi">{kpi}</div>
<h2>Load per site</h2>{svgs["load"]}
<h2>Prices and carbon intensity</h2>{svgs["signals"]}
<h2>Before vs after</h2>{svgs["before_after"]}
<h2>Cost savings</h2>{_table(cost_rows(day), COST_COLUMNS)}
<h2>Carbon before vs after</h2>{_table(carbon_rows(day), CARBON_COLUMNS)}
<h2>Flexibility verification</h2>{_table(verification_rows(day), VERIFICATION_COLUMNS)}
<h2>Transactions</h2>{"".join(txns)}
<h2>Energy use log per data centre</h2>{energy}
</body></html>
"""


# ---- files -----------------------------------------------------------------------------------


def write_day(day: SettledDay, out: Path) -> list[Path]:
    """Write the day's report under out/<day>/; returns the files written."""
    d = out / day.day
    (d / "transactions").mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, str]] = [
        (d / "report.json", json.dumps(day_json(day), indent=1) + "\n"),
        (d / "energy-log.csv", to_csv(energy_rows(day), ENERGY_LOG_COLUMNS)),
        (d / "carbon.csv", to_csv(carbon_rows(day), CARBON_COLUMNS)),
        (d / "costs.csv", to_csv(cost_rows(day), COST_COLUMNS)),
        (d / "verification.csv", to_csv(verification_rows(day), VERIFICATION_COLUMNS)),
        (d / "report.html", render_html(day)),
    ]
    for o in day.statement.orders:
        base = d / "transactions" / o.transaction_id
        files.append((base.with_suffix(".json"),
                      json.dumps(transaction_json(day, o), indent=1) + "\n"))
        files.append((base.with_suffix(".csv"),
                      to_csv(energy_rows(day, o.order_id), ENERGY_LOG_COLUMNS)))
    for p, text in files:
        p.write_text(text, encoding="utf-8")
    return [p for p, _ in files]
