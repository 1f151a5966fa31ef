"""metering-validator settings: the common ones plus the measurement programmes."""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from services.common.settings import ServiceSettings
from services.metering_validator.baselines import Programme
from services.metering_validator.handlers import ValidatorConfig
from services.metering_validator.holidays import ENGLAND_AND_WALES
from services.metering_validator.periods import check_interval


class MeteringValidatorSettings(ServiceSettings):
    """`DEGFLEX_PROGRAMMES='{"UK-EAST": {"method": "dfs"}}'` selects a baseline per grid zone;
    every other zone uses `DEGFLEX_BASELINE` (default: the nominated baseline)."""

    service_name: str = "metering-validator"
    baseline: Programme = Field(default_factory=Programme)
    programmes: dict[str, Programme] = Field(default_factory=dict)
    holidays: frozenset[date] = ENGLAND_AND_WALES
    battery_sites: frozenset[str] = frozenset()
    outage_days: dict[str, frozenset[date]] = Field(default_factory=dict)
    interval_minutes: int = 30

    @field_validator("interval_minutes")
    @classmethod
    def _divides_an_hour(cls, v: int) -> int:
        return check_interval(v)

    def validator_config(self) -> ValidatorConfig:
        return ValidatorConfig(default=self.baseline, programmes=dict(self.programmes),
                               holidays=self.holidays, battery_sites=self.battery_sites,
                               outage_days=dict(self.outage_days),
                               interval_minutes=self.interval_minutes)
