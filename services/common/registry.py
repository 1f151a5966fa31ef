"""Subscribers' public keys, in the Beckn registry `lookup` response shape (core 1.1.1).

A registry file is what `POST /lookup` returns: a JSON array of `Subscription` objects
(`subscriber_id`, `url`, `type`, `domain`, `key_id`, `signing_public_key`, `valid_from`,
`valid_until`, `status`, ...). `FileRegistry` is that response saved to disk; a live registry
client only has to implement `lookup` the same way (and cache, as BECKN-006 allows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    subscriber_id: str
    url: str | None = None
    type: Literal["BAP", "BPP", "BG"]
    domain: str | None = None
    key_id: str
    signing_public_key: str
    encr_public_key: str | None = None
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    status: Literal["INITIATED", "UNDER_SUBSCRIPTION", "SUBSCRIBED", "EXPIRED", "UNSUBSCRIBED",
                    "INVALID_SSL"]
    created: AwareDatetime | None = None
    updated: AwareDatetime | None = None

    def valid_at(self, t: datetime) -> bool:
        return self.status == "SUBSCRIBED" and self.valid_from <= t <= self.valid_until


LOOKUP_RESPONSE = TypeAdapter(list[Subscription])


class Registry(Protocol):
    def lookup(self, subscriber_id: str, unique_key_id: str) -> Subscription | None: ...


class FileRegistry:
    """A saved `lookup` response; read once (restart the service to pick up new keys)."""

    def __init__(self, entries: Sequence[Subscription]) -> None:
        self._by_key = {(e.subscriber_id, e.key_id): e for e in entries}

    @classmethod
    def load(cls, path: Path) -> FileRegistry:
        return cls(LOOKUP_RESPONSE.validate_json(path.read_bytes()))

    def lookup(self, subscriber_id: str, unique_key_id: str) -> Subscription | None:
        return self._by_key.get((subscriber_id, unique_key_id))

    def __len__(self) -> int:
        return len(self._by_key)


def save(path: Path, entries: Sequence[Subscription]) -> None:
    doc = [e.model_dump(mode="json", exclude_none=True) for e in entries]
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def upsert(path: Path, entry: Subscription) -> None:
    """Add `entry` to the registry file (replacing the same subscriber_id + key_id)."""
    entries = list(LOOKUP_RESPONSE.validate_json(path.read_bytes())) if path.exists() else []
    entries = [e for e in entries
               if (e.subscriber_id, e.key_id) != (entry.subscriber_id, entry.key_id)]
    save(path, [*entries, entry])
