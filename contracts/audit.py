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
    EventSettlement,
    FlexibilityVerified,
    MeterReadingRecorded,
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


class StressInstruction(Frozen):
    """A stress event as the grid sent it to one order (it carries the utilisation rate)."""

    site_id: str
    order_id: str
    transaction_id: str
    event: GridStressEvent


class SettledInputs(Frozen):
    """One order's part of a day's settlement: the inputs it added and what was recorded.

    The settled entries of one statement together hold every input settlement used: each
    carries its order and its site's readings, and all of them carry the zone's signals, the
    stress instructions, verifications and responses. `inputs_digest` and `config_digest` are
    the statement's; `degflex audit verify` rebuilds the inputs, checks they hash to it, runs
    settlement's pure `settle_day` on them and compares with the recorded figures.
    """

    statement_id: str
    statement_orders: tuple[str, ...]
    day_start: AwareDatetime
    day_end: AwareDatetime
    config: dict[str, JsonValue]
    config_digest: str
    inputs_digest: str
    transaction_id: str
    order: Order
    readings: tuple[MeterReadingRecorded, ...]
    signals: tuple[ZoneSignalPublished, ...]
    dataset_version: str = Field(description="sha256:<hex> of the canonical `signals`")
    events: tuple[StressInstruction, ...]
    verifications: tuple[FlexibilityVerified, ...]
    responses: tuple[ResponseDispatched, ...]
    recorded_site: SiteSettlement
    recorded_order: OrderSettlement
    recorded_events: tuple[EventSettlement, ...]


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
