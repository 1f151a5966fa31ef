"""load-shifter settings: the common ones plus the policy's costs per kWh of relief."""

from pydantic import Field

from services.common.settings import ServiceSettings
from services.load_shifter.policy import Costs

_D = Costs()


class LoadShifterSettings(ServiceSettings):
    service_name: str = "load-shifter"
    migrate_gbp_per_kwh: float = Field(_D.migrate_gbp_per_kwh, ge=0, le=100)
    capacity_request_gbp_per_kwh: float = Field(_D.capacity_request_gbp_per_kwh, ge=0, le=100)
    battery_gbp_per_kwh: float = Field(_D.battery_gbp_per_kwh, ge=0, le=100)
    pause_gbp_per_kwh: float = Field(_D.pause_gbp_per_kwh, ge=0, le=100)

    @property
    def costs(self) -> Costs:
        return Costs(self.migrate_gbp_per_kwh, self.capacity_request_gbp_per_kwh,
                     self.battery_gbp_per_kwh, self.pause_gbp_per_kwh)
