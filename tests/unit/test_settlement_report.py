"""Settlement reports of the seed day: the tables carry the statement's figures (hand-worked in
docs/settlement.md), the files are where they should be, and the HTML page stands alone."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from services.common.codec import encode, envelope
from services.common.ids import stable_id
from rules.settlement import settle_day
from services.settlement.report import (
    ReportError,
    SettledDay,
    carbon_rows,
    cost_rows,
    energy_rows,
    verification_rows,
    write_day,
)
from services.settlement.report_cli import settled_days

from .factories import CAMBRIDGE, CAMBRIDGE_TXN, MANCHESTER_TXN, at
from .test_settlement_domain import seed_inputs


@pytest.fixture(scope="module")
def day() -> SettledDay:
    d = settle_day(seed_inputs())
    return SettledDay.of(d.statement, d.sites)


def test_the_cost_savings_summary(day: SettledDay) -> None:
    total, cam, man, *orders = cost_rows(day)

    assert (total["scope"], total["baseline_gbp"], total["actual_gbp"]) == (
        "day", 1248.0, 1207.733333)
    assert total["saving_gbp"] == pytest.approx(40.266667)
    assert total["saving_pct"] == pytest.approx(3.2265)
    assert total["battery_recharge_gbp"] == pytest.approx(23.333333)
    assert total["saving_before_recharge_gbp"] == pytest.approx(63.6)  # 40.27 + 23.33
    assert total["utilisation_payment_gbp"] == 135
    assert total["net_benefit_gbp"] == pytest.approx(175.266667)  # 40.27 + 135
    assert total["net_bill_gbp"] == pytest.approx(1072.733333)  # 1207.73 - 135
    assert (cam["site_id"], cam["saving_gbp"]) == (CAMBRIDGE, pytest.approx(95.466667))
    assert man["saving_gbp"] == pytest.approx(-55.2)  # 441.60 - 496.80: it took the 300 kW
    assert [o["transaction_id"] for o in orders] == [CAMBRIDGE_TXN, MANCHESTER_TXN]


def test_the_carbon_report_before_vs_after(day: SettledDay) -> None:
    total, cam, man, *_ = carbon_rows(day)

    assert (total["baseline_kg"], total["actual_kg"], total["change_kg"]) == (734.4, 669.8,
                                                                              -64.6)
    assert total["reduction_pct"] == pytest.approx(8.7963)
    assert total["battery_recharge_kg"] == pytest.approx(26.0)
    assert total["method"] == "location-based"
    assert total["actual_marginal_kg"] == ""  # none given on the seed day
    assert (cam["baseline_kg"], cam["actual_kg"]) == (494.4, 399.8)
    assert (man["baseline_kg"], man["actual_kg"]) == (240.0, 270.0)


def test_the_flexibility_verification(day: SettledDay) -> None:
    (row,) = verification_rows(day)

    assert (row["site_id"], row["verdict"], row["delivered_kw"], row["delivered_kwh"]) == (
        CAMBRIDGE, "delivered", 450, 900)
    assert (row["performance_factor"], row["paid_kwh"], row["utilisation_payment_gbp"]) == (
        1, 900, 135)
    assert verification_rows(day, MANCHESTER_TXN) == []


def test_the_energy_use_log_per_data_centre(day: SettledDay) -> None:
    rows = energy_rows(day)

    assert len(rows) == 96  # 2 sites x 48 half hours
    r = rows[28]
    assert (r["site_id"], r["start"], r["import_kwh"], r["load_kwh"], r["baseline_kwh"]) == (
        CAMBRIDGE, at("14:00").isoformat(), 375, 450, 600)
    assert sum(r["import_kwh"] for r in rows) == pytest.approx(12033.333333)


@pytest.fixture(scope="module")
def written(day: SettledDay, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    return out, write_day(day, out)


def test_the_files_of_a_day_and_of_each_transaction(written: tuple[Path, list[Path]]) -> None:
    out, files = written

    d = out / "2025-11-17"
    assert {p.relative_to(d).as_posix() for p in files} == {
        "report.json", "energy-log.csv", "carbon.csv", "costs.csv", "verification.csv",
        "report.html", f"transactions/{CAMBRIDGE_TXN}.json", f"transactions/{CAMBRIDGE_TXN}.csv",
        f"transactions/{MANCHESTER_TXN}.json", f"transactions/{MANCHESTER_TXN}.csv"}
    log = list(csv.DictReader(io.StringIO((d / "energy-log.csv").read_text())))
    assert len(log) == 96 and float(log[28]["cost_gbp"]) == pytest.approx(49.5)
    doc = json.loads((d / "report.json").read_text())
    assert doc["cost_savings"][0]["actual_gbp"] == 1207.733333
    assert doc["statement"]["flex_payment_gbp"] == 135
    txn = json.loads((d / "transactions" / f"{CAMBRIDGE_TXN}.json").read_text())
    assert txn["order"]["utilisation_payment_gbp"] == 135
    assert len(txn["energy_log"]) == 48
    assert [r["scope"] for r in txn["cost_savings"]] == ["order"]


def test_the_html_page_is_self_contained_with_its_charts(
        day: SettledDay, written: tuple[Path, list[Path]], tmp_path: Path) -> None:
    page = (written[0] / "2025-11-17" / "report.html").read_text()

    assert page.count("<svg") == 3  # load per site, prices and intensity, before vs after
    assert "event stress-uk-east-1400" in page  # the event is marked on the load chart
    assert "£1,248.00 → £1,207.73" in page and "734.4 → 669.8 kg" in page
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert refs == []  # nothing fetched: scripts, styles, images are inline
    again = tmp_path / "again"
    write_day(day, again)
    assert (again / "2025-11-17" / "report.html").read_text() == page  # deterministic


def _records(day: SettledDay) -> list[bytes]:
    st = day.statement
    sites = [encode(envelope(s, id=stable_id("site-settled", s.site_id), time=st.day_end,
                             source="settlement")) for s in day.sites]
    return [*sites, encode(envelope(st, id=stable_id("statement"), time=st.day_end,
                                    source="settlement"))]


def test_the_topic_records_become_settled_days(day: SettledDay) -> None:
    recs = _records(day)

    days, notes = settled_days([b"not json", *recs, recs[-1]])  # a bad record, a duplicate

    (got,) = days
    assert got == day
    assert notes == ["record 0: invalid_json: Expecting value: line 1 column 1 (char 0)"]


def test_a_statement_without_its_site_records_is_not_reported(day: SettledDay) -> None:
    days, notes = settled_days(_records(day)[1:])

    assert days == []
    assert notes == ["day 2025-11-17: no interval records for cambridge-east"]
    with pytest.raises(ReportError):
        SettledDay.of(day.statement, day.sites[1:])
