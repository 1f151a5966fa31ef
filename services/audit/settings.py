"""audit settings: the common ones, plus the shared settings recorded in its configuration."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
    carbon_price_gbp_per_tonne: float | None = Field(
        None, ge=0, description="the deployment's carbon price (recorded, not used)")
    meter_resolution_s: int | None = Field(
        None, ge=1, description="the deployment's meter resolution (recorded, not used)")
    restore_timeout_s: float = Field(120, gt=0, description="reading the log back at start-up")
