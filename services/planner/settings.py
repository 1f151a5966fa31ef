"""planner settings: the common ones plus CompFlex's Beckn identity and carbon price."""

from __future__ import annotations

from typing import Literal

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
    mode: Literal["optimal", "rule"] = Field(
        "optimal", description="optimal: HiGHS MILP over parts, sites and slots; rule: each "
        "batch whole at its cheapest feasible site, as early as possible")
    migration_h: float = Field(0.5, ge=0, le=24, description="checkpoint + transfer energy of "
                               "running a part away from home, in hours of its power")
    exact_up_to_parts: int = Field(60, ge=0, description="above this many parts, the fast solver")
