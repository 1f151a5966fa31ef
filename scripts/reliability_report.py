"""Render out/reliability/*.json (written by tests/reliability) as the table in
docs/reliability.md: `python scripts/reliability_report.py [--write]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "out" / "reliability"
DOC = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- reliability-table:begin -->", "<!-- reliability-table:end -->"
OWN_TABLES = ("hostile", "backpressure")
"""Runs with a table of their own below the main one (their figures are not crash figures)."""
DETAIL_TABLES = ("broker-restart",)
"""Runs in the main table that also have a table of their own."""


def table(runs: list[dict]) -> str:
    rows = [("| run | crashes survived | restarts survived | broker restarts survived (down s) "
             "| bad records tried | records lost "
             "| duplicates injected | settlement difference (GBP, kWh) | orders/commands doubled "
             "| seconds |"),
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in runs:
        name = r["test"] + (f" seed {r['seed']}" if "seed" in r else "")
        rows.append(
            f"| {name} | {len(r.get('crashes', []))} | {r.get('restarts', 0)} "
            f"| {broker_restarts(r)} "
            f"| {r.get('bad_records', 0)} | {r['records_lost']} "
            f"| {r.get('duplicates_injected', 0)} "
            f"| {r['settlement_difference_gbp']:g}, {r['settlement_difference_kwh']:g} "
            f"| {r.get('doubled_new_id', 0)} | {r['seconds']:g} |")

    def total(k: str) -> int:
        return sum(len(r.get(k, [])) if k == "crashes" else r.get(k, 0) for r in runs)

    down = sum(r.get("downtime_seconds", 0) for r in runs)
    rows.append(f"| **total** | {total('crashes')} | {total('restarts')} | "
                f"{sum(len(r.get('broker_restarts', [])) for r in runs)} ({down:g}) | "
                f"{total('bad_records')} | {total('records_lost')} | "
                f"{total('duplicates_injected')} | "
                f"{sum(r['settlement_difference_gbp'] for r in runs):g}, "
                f"{sum(r['settlement_difference_kwh'] for r in runs):g} | "
                f"{total('doubled_new_id')} | |")
    return "\n".join(rows)


def broker_restarts(r: dict) -> str:
    n = len(r.get("broker_restarts", []))
    return f"{n} ({r['downtime_seconds']:g})" if n else "0"


def broker_restart(r: dict) -> str:
    rows = [("| phase | tick | signal | signal to exit (s) | down, signal to ready (s) "
             "| settled after start (s) | records the services wrote after the signal |"),
            "|---|---:|---|---:|---:|---:|---|"]
    for o in r["broker_restarts"]:
        written = ", ".join(f"{t} {n}" for t, n in sorted(o["written_after_signal"].items()))
        rows.append(f"| {o['phase']} | {o['tick']} | {o['signal']} | {o['stop_seconds']:g} "
                    f"| {o['down_seconds']:g} | {o['settled_seconds_after_start']:g} "
                    f"| {written} |")
    return ("\n".join(rows) + f"\n\nNo service exited or was restarted. Settlement difference "
            f"{r['settlement_difference_gbp']:g} GBP, {r['settlement_difference_kwh']:g} kWh; "
            f"records lost {r['records_lost']}; orders/commands doubled {r['doubled_new_id']}; "
            f"re-delivered under the same id {r['redelivered_same_id']}; dead letters "
            f"{r['dead_letters']}; {r['seconds']:g} s.")


def hostile(r: dict) -> str:
    rows = [("| topic | bad records tried | of them signed | dead-lettered by each reader "
            "| not dead-lettered |"), "|---|---:|---:|---|---:|"]
    by_pair = r["dead_lettered_by_service_topic"]
    for t, n in sorted(r["bad_records_by_topic"].items()):
        readers = {k.split(" ")[0]: v for k, v in by_pair.items() if k.split(" ")[1] == t}
        rows.append(f"| {t} | {n} | {r['signed_by_topic'].get(t, 0)} | "
                    + ", ".join(f"{s} {v}" for s, v in sorted(readers.items()))
                    + f" | {sum(max(0, n - v) for v in readers.values())} |")
    fams = ", ".join(f"{k} {v}" for k, v in sorted(r["families"].items()))
    return ("\n".join(rows) + f"\n\nFamilies: {fams}. Settlement difference "
            f"{r['settlement_difference_gbp']:g} GBP, {r['settlement_difference_kwh']:g} kWh; "
            f"records lost {r['records_lost']}; {r['seconds']:g} s.")


def backpressure(r: dict) -> str:
    mib = 1 << 20
    return ("| backlog | backlog bytes | catch-up | RSS growth after start-up | bound (state + "
            "buffers) | legitimate state (dedupe ids) |\n|---:|---:|---:|---:|---:|---:|\n"
            f"| {r['backlog_records']} readings | {r['backlog_bytes'] / mib:.1f} MiB "
            f"| {r['catch_up_seconds']:g} s ({r['records_per_second']} rec/s) "
            f"| {r['rss_growth_bytes'] / mib:.1f} MiB | {r['rss_bound_bytes'] / mib:.1f} MiB "
            f"| {r['legitimate_state_bytes'] / mib:.1f} MiB |")


def section(doc: str, name: str, body: str) -> str:
    begin, end = f"<!-- reliability-{name}:begin -->", f"<!-- reliability-{name}:end -->"
    if begin not in doc:
        return doc
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = ap.parse_args()
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    if not runs:
        print(f"no results in {RESULTS}: run `make reliability` first", file=sys.stderr)
        return 1
    out = table([r for r in runs if r["test"] not in OWN_TABLES])
    render = {"hostile": hostile, "backpressure": backpressure,
              "broker-restart": broker_restart}
    extra = {r["test"]: render[r["test"]](r) for r in runs
             if r["test"] in OWN_TABLES + DETAIL_TABLES}
    print(out)
    for body in extra.values():
        print("\n" + body)
    if args.write:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = f"{head}{BEGIN}\n{out}\n{END}{tail}"
        for name, body in extra.items():
            doc = section(doc, name, body)
        DOC.write_text(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
