"""The scenario file's schema (docs/scenarios.md): a replayable day of grid and workload."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, Field, model_validator

from contracts.envelope import Frozen


def _clock(v: str) -> str:
    m = re.fullmatch(r"(\d{2}):(\d{2})", v)
    if not m or int(m[1]) > 24 or int(m[2]) > 59 or (int(m[1]) == 24 and int(m[2]) != 0):
        raise ValueError(f"{v!r} is not a time of day HH:MM (00:00..24:00)")
    return v


ClockTime = Annotated[str, AfterValidator(_clock)]


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class Span(Frozen):
    from_: ClockTime = Field(alias="from")
    to: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if minutes(self.to) <= minutes(self.from_):
            raise ValueError(f"span {self.from_}-{self.to} must end after it starts")
        return self


class SignalBlock(Span):
    renewable_pct: float = Field(ge=0, le=100)
    carbon_g_per_kwh: float = Field(ge=0, le=5000)
    price_gbp_per_kwh: float = Field(ge=-10, le=100)
    marginal_carbon_g_per_kwh: float | None = Field(None, ge=0, le=5000)


class WindowSpec(Span):
    capacity_kw: float = Field(gt=0)
    stress_surcharge_gbp_per_kwh: float = Field(0.0, ge=0)


class ZoneSpec(Frozen):
    area: str
    signals: tuple[SignalBlock, ...] = Field(min_length=1)
    windows: tuple[WindowSpec, ...] = ()

    @model_validator(mode="after")
    def _covers_day(self) -> ZoneSpec:
        t = 0
        for b in self.signals:
            if minutes(b.from_) != t:
                raise ValueError(f"signals must tile the day without gaps; gap or overlap at {b.from_}")
            t = minutes(b.to)
        if t != 24 * 60:
            raise ValueError("signals must run to 24:00")
        return self


class StressEventSpec(Span):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    zone: str
    renewable_pct: float = Field(ge=0, le=100)
    carbon_g_per_kwh: float = Field(ge=0, le=5000)
    price_delta_gbp_per_kwh: float
    requested_reduction_kw: float = Field(ge=0)
    utilisation_payment_gbp_per_mwh: float = Field(ge=0)
    marginal_carbon_g_per_kwh: float | None = Field(None, ge=0, le=5000)


class BatteryFile(Frozen):
    power_kw: float = Field(gt=0)
    energy_kwh: float = Field(gt=0)
    initial_soc_pct: float = Field(ge=0, le=100)
    reserve_soc_pct: float = Field(ge=0, le=100)
    round_trip_efficiency: float = Field(gt=0, le=1)


class SiteSpec(Frozen):
    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    name: str
    zone: str
    it_capacity_kw: float = Field(gt=0)
    battery: BatteryFile | None = None
    battery_recharge_from: ClockTime | None = None


class PartSpec(Frozen):
    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    power_kw: float = Field(gt=0)
    gpus: int = Field(ge=1)
    critical: bool
    migratable: bool


class JobSpec(Frozen):
    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    name: str
    home_site: str | None = None
    earliest_start: ClockTime
    deadline: ClockTime
    duration_h: float = Field(gt=0, le=24)
    carbon_target_g_per_kwh: float = Field(ge=0)
    parts: tuple[PartSpec, ...] = Field(min_length=1)


class Party(Frozen):
    id: str
    uri: str
    name: str
    buyer_id: str | None = None
    provider_id: str | None = None


class Participants(Frozen):
    bap: Party
    bpp: Party


class Scenario(Frozen):
    name: str
    description: str = ""
    day: date
    period_minutes: int = Field(30, ge=1, le=60)
    meter_resolution_minutes: int = Field(1, ge=1, le=60)
    discovery_at: ClockTime
    carbon_price_gbp_per_tonne: float = Field(0.0, ge=0)
    participants: Participants
    zones: dict[str, ZoneSpec] = Field(min_length=1)
    stress_events: tuple[StressEventSpec, ...] = ()
    sites: tuple[SiteSpec, ...] = Field(min_length=1)
    jobs: tuple[JobSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        site_ids = {s.id for s in self.sites}
        for s in self.sites:
            if s.zone not in self.zones:
                raise ValueError(f"site {s.id}: unknown zone {s.zone}")
        for e in self.stress_events:
            if e.zone not in self.zones:
                raise ValueError(f"stress event {e.id}: unknown zone {e.zone}")
        for j in self.jobs:
            if j.home_site is not None and j.home_site not in site_ids:
                raise ValueError(f"job {j.id}: unknown home site {j.home_site}")
        if 24 * 60 % self.period_minutes or self.period_minutes % self.meter_resolution_minutes:
            raise ValueError("period_minutes must divide the day and be a multiple of the meter resolution")
        return self

    def at(self, hhmm: str) -> datetime:
        """The scenario day's instant for a HH:MM (24:00 is the next midnight), in UTC."""
        start = datetime.combine(self.day, time(0), tzinfo=timezone.utc)
        return start + timedelta(minutes=minutes(hhmm))

    @property
    def day_start(self) -> datetime:
        return self.at("00:00")

    @property
    def day_end(self) -> datetime:
        return self.at("24:00")


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; errors name the file and the offending field."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read scenario: {exc}") from exc
    try:
        return Scenario.model_validate(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: invalid scenario: {exc}") from exc
