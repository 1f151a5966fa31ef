"""The audit log's entry body: what changed for which order, from which message, on what inputs.

An `audit.entry.appended` record carries the body as canonical JSON text; this module is its
typed view. `inputs` depends on `stage` (`INPUTS`); every model dumps by alias, without None.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field, JsonValue

from contracts.beckn.models import Order
from contracts.compute_energy.vocab import GridStressEvent
from contracts.envelope import Frozen
from contracts.events import (
    FlexibilityVerified,
    OrderSettlement,
    ResponseDispatched,
    SiteSettlement,
    ZoneSignalPublished,
)


class Stage(StrEnum):
    """An order's state changes, plus `configured` (the rules and settings in force)."""

    CONFIGURED = "configured"
    ISSUED = "issued"
    ACCEPTED = "accepted"
    INSTRUCTED = "instructed"
    ADJUSTED = "adjusted"
    DELIVERED = "delivered"
    VERIFIED = "verified"
    SETTLED = "settled"
    CLOSED = "closed"


class SourceRef(Frozen):
    """The message that caused the entry (the dedupe key with stage and order)."""

    topic: str
    type: str
    message_id: str


class AuditBody(Frozen):
    seq: int = Field(ge=0)
    stage: Stage
    at: AwareDatetime
    order_id: str | None = None
    transaction_id: str | None = None
    site_id: str | None = None
    source: SourceRef | None = None
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: dict[str, JsonValue]

    @property
    def key(self) -> str:
        """What makes an entry unique: its stage, order and causing message."""
        ref = self.source.message_id if self.source else self.config_hash
        return f"{self.stage.value}/{self.order_id or '-'}/{ref}"


class ConfiguredInputs(Frozen):
    """The configuration every later entry's `config_hash` names (SHA-256 of its canonical JSON)."""

    config: dict[str, JsonValue]


class OrderSnapshot(Frozen):
    """issued, accepted, instructed, adjusted, closed: the order as the message carried it."""

    order: Order


class DeliveredInputs(Frozen):
    """The site's meter closed the day: interval count and totals, and the responses dispatched."""

    day_start: AwareDatetime
    day_end: AwareDatetime
    intervals: int = Field(ge=0)
    import_kwh: float
    load_kwh: float
    battery_discharge_kwh: float
    responses: tuple[ResponseDispatched, ...] = ()


class VerifiedInputs(Frozen):
    """The metering validator's verdict (baseline, metered, delivered) as published."""

    verification: FlexibilityVerified


Reading = tuple[AwareDatetime, AwareDatetime, float, float, float]
"""One meter interval: start, end, import kWh, load kWh, battery discharge kWh."""


class SettledInputs(Frozen):
    """Everything settlement used for one order, and what it recorded: enough to recompute it."""

    statement_id: str
    day_start: AwareDatetime
    day_end: AwareDatetime
    zone: str
    order: Order
    readings: tuple[Reading, ...]
    signals: tuple[ZoneSignalPublished, ...]
    dataset_version: str = Field(description="sha256:<hex> of the canonical `signals`")
    stress_events: tuple[GridStressEvent, ...]
    event_span: tuple[AwareDatetime, AwareDatetime] | None
    verifications: tuple[FlexibilityVerified, ...]
    recorded_site: SiteSettlement
    recorded_order: OrderSettlement


INPUTS: dict[Stage, type[Frozen]] = {
    Stage.CONFIGURED: ConfiguredInputs,
    Stage.ISSUED: OrderSnapshot,
    Stage.ACCEPTED: OrderSnapshot,
    Stage.INSTRUCTED: OrderSnapshot,
    Stage.ADJUSTED: OrderSnapshot,
    Stage.DELIVERED: DeliveredInputs,
    Stage.VERIFIED: VerifiedInputs,
    Stage.SETTLED: SettledInputs,
    Stage.CLOSED: OrderSnapshot,
}


def dump(model: Frozen) -> dict[str, Any]:
    """The JSON form every audit body part uses (by alias, without None)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
