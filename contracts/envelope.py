"""Internal event envelope for non-Beckn traffic (grid signals, meter readings, commands, clock)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)


class Frozen(BaseModel):
    """Base for every contract model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Frozen, Generic[P]):
    """Every internal record: a typed payload plus the metadata consumers rely on.

    `id` is deterministic for a given cause (see services.common.ids), so a replay emits the
    same ids and consumers dedupe on it. `time` is event time, never wall time.
    """

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(pattern=r"^[a-z]+\.[a-z_]+\.[a-z_]+$")
    version: int = Field(default=1, ge=1)
    time: AwareDatetime
    source: str = Field(min_length=1, max_length=100)
    payload: P
