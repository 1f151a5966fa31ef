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


def table(runs: list[dict]) -> str:
    rows = [("| run | crashes survived | restarts survived | bad records tried | records lost "
             "| duplicates injected | settlement difference (GBP, kWh) | orders/commands doubled "
             "| seconds |"),
            "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in runs:
        name = r["test"] + (f" seed {r['seed']}" if "seed" in r else "")
        rows.append(
            f"| {name} | {len(r.get('crashes', []))} | {r.get('restarts', 0)} "
            f"| {r.get('bad_records', 0)} | {r['records_lost']} "
            f"| {r.get('duplicates_injected', 0)} "
            f"| {r['settlement_difference_gbp']:g}, {r['settlement_difference_kwh']:g} "
            f"| {r.get('doubled_new_id', 0)} | {r['seconds']:g} |")

    def total(k: str) -> int:
        return sum(len(r.get(k, [])) if k == "crashes" else r.get(k, 0) for r in runs)

    rows.append(f"| **total** | {total('crashes')} | {total('restarts')} | "
                f"{total('bad_records')} | {total('records_lost')} | "
                f"{total('duplicates_injected')} | "
                f"{sum(r['settlement_difference_gbp'] for r in runs):g}, "
                f"{sum(r['settlement_difference_kwh'] for r in runs):g} | "
                f"{total('doubled_new_id')} | |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = ap.parse_args()
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    if not runs:
        print(f"no results in {RESULTS}: run `make reliability` first", file=sys.stderr)
        return 1
    out = table(runs)
    print(out)
    if args.write:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{out}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
