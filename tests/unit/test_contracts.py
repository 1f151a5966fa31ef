"""The scenario file's schema and the invariants our event payloads enforce themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.events import JobPart, JobSubmitted, MeterReadingRecorded
from contracts.scenario import load_scenario, minutes

from .factories import at, scenario, seed, seed_doc


def test_the_seed_scenario_loads_with_its_day_in_utc() -> None:
    sc = seed()

    assert sc.day_start == at("00:00")
    assert sc.day_end == at("24:00")  # 24:00 is the next midnight
    assert sc.at("14:00") == at("14:00")
    assert [s.id for s in sc.sites] == ["cambridge-east", "manchester"]
    assert [j.id for j in sc.jobs] == ["batch-a", "batch-b"]


@pytest.mark.parametrize(("hhmm", "expected"), [("00:00", 0), ("14:30", 870), ("24:00", 1440)])
def test_minutes_counts_from_midnight(hhmm: str, expected: int) -> None:
    assert minutes(hhmm) == expected  # e.g. 14 h x 60 + 30 = 870


def test_signals_must_tile_the_day_without_a_gap() -> None:
    doc = seed_doc()
    doc["zones"]["UK-NW"]["signals"][1]["from"] = "07:00"  # 06:00-07:00 left uncovered

    with pytest.raises(ValidationError, match="gap or overlap at 07:00"):
        scenario(doc)


def test_signals_must_run_to_midnight() -> None:
    doc = seed_doc()
    doc["zones"]["UK-NW"]["signals"][-1]["to"] = "23:00"

    with pytest.raises(ValidationError, match="must run to 24:00"):
        scenario(doc)


def test_a_span_must_end_after_it_starts() -> None:
    doc = seed_doc()
    doc["zones"]["UK-EAST"]["windows"][0]["to"] = "10:00"

    with pytest.raises(ValidationError, match="must end after it starts"):
        scenario(doc)


@pytest.mark.parametrize("clock", ["25:00", "24:30", "9:00", "12:60"])
def test_clock_times_outside_the_day_are_refused(clock: str) -> None:
    doc = seed_doc()
    doc["discovery_at"] = clock

    with pytest.raises(ValidationError, match="is not a time of day"):
        scenario(doc)


def test_references_to_unknown_sites_and_zones_are_refused() -> None:
    doc = seed_doc()
    doc["jobs"][0]["home_site"] = "leeds"
    with pytest.raises(ValidationError, match="unknown home site leeds"):
        scenario(doc)

    doc = seed_doc()
    doc["stress_events"][0]["zone"] = "UK-SW"
    with pytest.raises(ValidationError, match="unknown zone UK-SW"):
        scenario(doc)


def test_the_meter_resolution_must_divide_the_settlement_period() -> None:
    doc = seed_doc()
    doc["meter_resolution_minutes"] = 7  # 30 % 7 = 2

    with pytest.raises(ValidationError, match="multiple of the meter resolution"):
        scenario(doc)


def test_an_unreadable_scenario_names_its_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")

    with pytest.raises(ValueError, match="bad.yaml: cannot read scenario"):
        load_scenario(bad)


def _job(duration_h: float) -> JobSubmitted:
    return JobSubmitted(
        job_id="batch-a", name="A", home_site="cambridge-east", earliest_start=at("10:00"),
        deadline=at("16:00"), duration_h=duration_h, carbon_target_g_per_kwh=150,
        parts=(JobPart(part_id="core", power_kw=900, gpus=1200, critical=True, migratable=False),
               JobPart(part_id="sweep", power_kw=300, gpus=400, critical=False,
                       migratable=True)))


def test_a_job_is_as_large_as_its_parts() -> None:
    assert _job(6).power_kw == 1200  # 900 core + 300 sweep


def test_a_job_longer_than_its_span_is_refused() -> None:
    with pytest.raises(ValidationError, match="does not fit before its deadline"):
        _job(6.5)  # 10:00 to 16:00 leaves 6 h


def test_a_reading_must_balance_import_load_and_battery() -> None:
    MeterReadingRecorded(site_id="cambridge-east", start=at("14:00"), end=at("15:00"),
                         import_kwh=750, load_kwh=900, battery_discharge_kwh=150)  # 900 - 150

    with pytest.raises(ValidationError, match="import_kwh must equal"):
        MeterReadingRecorded(site_id="cambridge-east", start=at("14:00"), end=at("15:00"),
                             import_kwh=900, load_kwh=900, battery_discharge_kwh=150)
    with pytest.raises(ValidationError, match="end > start"):
        MeterReadingRecorded(site_id="cambridge-east", start=at("15:00"), end=at("15:00"),
                             import_kwh=0, load_kwh=0, battery_discharge_kwh=0)
