"""Our ComputeEnergy vocabulary: the JSON-LD attribute bags carried inside Beckn messages.

Each bag is a Beckn `Attributes` object (`@context` + `@type` + terms defined in
`context.jsonld` beside this file). Modelled on the upstream DEG compute-energy draft, with its
defects corrected (see docs/beckn-conformance.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

CE_CONTEXT = "https://schemas.degflex.org/ComputeEnergy/v1/context.jsonld"


class _Bag(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel
    )
    context: Literal["https://schemas.degflex.org/ComputeEnergy/v1/context.jsonld"] = Field(
        CE_CONTEXT, alias="@context"
    )


class ComputeEnergyWindow(_Bag):
    """A flexibility window a grid zone offers for compute (an Item's itemAttributes)."""

    type_: Literal["ce:ComputeEnergyWindow"] = Field("ce:ComputeEnergyWindow", alias="@type")
    grid_zone: str
    grid_area: str
    start: AwareDatetime
    end: AwareDatetime
    renewable_pct: float = Field(ge=0, le=100)
    carbon_intensity_g_per_kwh: float = Field(ge=0)
    price_gbp_per_kwh: float
    capacity_kw: float = Field(ge=0)
    stress_surcharge_gbp_per_kwh: float = Field(0.0, ge=0)


class OrderLine(_Bag):
    """What CompFlex orders in one window: compute load and its metadata (orderItemAttributes)."""

    type_: Literal["ce:ComputeEnergyOrderLine"] = Field(
        "ce:ComputeEnergyOrderLine", alias="@type"
    )
    site_id: str
    grid_zone: str
    slot_start: AwareDatetime
    slot_end: AwareDatetime
    compute_load_kw: float = Field(gt=0)
    capacity_kw: float = Field(gt=0)
    gpu_hours: float = Field(ge=0)
    energy_kwh: float = Field(ge=0)
    carbon_target_g_per_kwh: float = Field(ge=0)
    job_ids: tuple[str, ...]
    confirmed_capacity_kw: float | None = Field(None, ge=0)
    availability_kw: float | None = Field(None, ge=0)
    availability_payment_gbp_per_mw_per_h: float | None = Field(None, ge=0)


class GridStressEvent(_Bag):
    """The grid asks for flexibility in a zone (orderAttributes of an unsolicited on_update)."""

    type_: Literal["ce:GridStressEvent"] = Field("ce:GridStressEvent", alias="@type")
    event_id: str
    grid_zone: str
    start: AwareDatetime
    end: AwareDatetime
    renewable_pct: float = Field(ge=0, le=100)
    carbon_intensity_g_per_kwh: float = Field(ge=0)
    price_delta_gbp_per_kwh: float
    requested_reduction_kw: float = Field(ge=0)
    utilisation_payment_gbp_per_mwh: float = Field(ge=0)


class ShiftAction(_Bag):
    """One action of a flexibility response."""

    type_: Literal["ce:ShiftAction"] = Field("ce:ShiftAction", alias="@type")
    action: Literal["pause_job", "start_job", "battery_discharge", "battery_charge"]
    site_id: str
    power_kw: float = Field(gt=0)
    start: AwareDatetime
    end: AwareDatetime
    reason: str
    job_id: str | None = None
    part_id: str | None = None


class FlexibilityAction(_Bag):
    """CompFlex's response to a stress event, or a load change on a receiving order (update)."""

    type_: Literal["ce:FlexibilityAction"] = Field("ce:FlexibilityAction", alias="@type")
    event_id: str
    role: Literal["stressed_site", "receiving_site"]
    reduction_kw: float = Field(ge=0)
    shifted_kw: float = Field(ge=0)
    battery_kw: float = Field(ge=0)
    new_compute_load_kw: float = Field(ge=0)
    actions: tuple[ShiftAction, ...]
    accepted: bool | None = None


class OrderItemSettlement(_Bag):
    """One order item's settled figures (nested in `SettlementMetrics.items`)."""

    type_: Literal["ce:OrderItemSettlement"] = Field("ce:OrderItemSettlement", alias="@type")
    ordered_item: str
    line_id: str
    slot_start: AwareDatetime
    slot_end: AwareDatetime
    energy_kwh: float
    cost_gbp: float
    carbon_kg: float
    baseline_energy_kwh: float
    baseline_cost_gbp: float
    baseline_carbon_kg: float
    verified_flexibility_kwh: float
    flex_payment_gbp: float


class SettlementMetrics(_Bag):
    """Performance, carbon and cost of a completed order (orderAttributes of on_status)."""

    type_: Literal["ce:SettlementMetrics"] = Field("ce:SettlementMetrics", alias="@type")
    energy_kwh: float
    cost_gbp: float
    carbon_kg: float
    baseline_energy_kwh: float
    baseline_cost_gbp: float
    baseline_carbon_kg: float
    verified_flexibility_kwh: float
    delivered_pct: float | None = None
    flex_payment_gbp: float
    carbon_method: Literal["location-based"] = "location-based"
    utilisation_payment_gbp: float | None = None
    availability_payment_gbp: float | None = None
    performance_factor: float | None = None
    battery_recharge_cost_gbp: float | None = None
    battery_losses_kwh: float | None = None
    marginal_carbon_kg: float | None = None
    baseline_marginal_carbon_kg: float | None = None
    items: tuple[OrderItemSettlement, ...] = ()
