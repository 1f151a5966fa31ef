"""site-simulator settings: the common ones plus the meter resolution."""

from pydantic import Field

from services.common.settings import ServiceSettings


class SiteSimulatorSettings(ServiceSettings):
    service_name: str = "site-simulator"
    meter_resolution_s: int = Field(60, ge=1, le=3600)
