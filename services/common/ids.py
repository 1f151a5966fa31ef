"""Deterministic identifiers: the same cause always yields the same id, so replays dedupe."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f1c0f57-5a7e-4d0c-9d8e-0de9f1e8c2a1")


def stable_id(*parts: object) -> str:
    """A UUIDv5 over the parts, e.g. stable_id("on_select", select_message_id)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))
