"""planner settings: the common ones plus CompFlex's Beckn identity and carbon price."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class PlannerSettings(ServiceSettings):
    service_name: str = "planner"
    bap_id: str = "compflex.computecloud.example"
    bap_uri: str = "https://compflex.computecloud.example/beckn"
    bpp_id: str = "gridflex.grid.example"
    bpp_uri: str = "https://gridflex.grid.example/beckn"
    buyer_id: str = "computecloud"
    buyer_name: str = "ComputeCloud"
    carbon_price_gbp_per_tonne: float = Field(0.0, ge=0)
