"""Deterministic test keys (fixed seeds), their registry and a signer, for unit and Kafka tests."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from contracts.beckn.models import BecknMessage
from services.common.codec import encode
from services.common.registry import Subscription, save
from services.common.signing import HEADER, KeyId, PrivateKey, sign, ttl_seconds

BAP_ID, BAP_URI = "compflex.computecloud.example", "https://compflex.computecloud.example/beckn"
BPP_ID, BPP_URI = "gridflex.grid.example", "https://gridflex.grid.example/beckn"


def fixed_key(name: str) -> PrivateKey:
    """A fixed key per name: seed = SHA-256("degflex test key " + name)."""
    seed = hashlib.sha256(f"degflex test key {name}".encode()).digest()
    return PrivateKey.from_b64(base64.b64encode(seed).decode())


BAP_KEY, BPP_KEY, MALLORY_KEY = fixed_key("bap"), fixed_key("bpp"), fixed_key("mallory")
BAP_KID = KeyId(BAP_ID, "6f1c7a53-0d5e-4a51-9d0c-2a9f8d1e0b01")
BPP_KID = KeyId(BPP_ID, "0b7e2d4c-8a31-4f6b-b2d5-7c1e9a3f5d02")
VALID_FROM = datetime(2025, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


def entry(kid: KeyId, key: PrivateKey, role: str, **kw: object) -> Subscription:
    fields: dict[str, object] = {
        "subscriber_id": kid.subscriber_id, "url": BAP_URI if role == "BAP" else BPP_URI, "type": role,
        "domain": "beckn.one:DEG:compute-energy:1.0", "key_id": kid.unique_key_id,
        "signing_public_key": key.public_b64, "valid_from": VALID_FROM, "valid_until": VALID_UNTIL,
        "status": "SUBSCRIBED"}
    fields.update(kw)
    return Subscription.model_validate(fields)


REGISTRY = [entry(BAP_KID, BAP_KEY, "BAP"), entry(BPP_KID, BPP_KEY, "BPP")]


def write_registry(path: Path) -> Path:
    save(path, REGISTRY)
    return path


def signed(msg: BecknMessage, created: float, *, key: PrivateKey | None = None,
           kid: KeyId | None = None, body: bytes | None = None,
           lifetime_s: int | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(value, headers) of a record carrying `msg` signed by its proper sender (or as told)."""
    request = not msg.context.action.value.startswith("on_")
    key = key or (BAP_KEY if request else BPP_KEY)
    kid = kid or (BAP_KID if request else BPP_KID)
    value = encode(msg) if body is None else body
    c = int(created)
    life = ttl_seconds(msg.context.ttl) if lifetime_s is None else lifetime_s
    sig = sign(value, key, kid, c, c + life)
    return value, [(HEADER, sig.header_value().encode())]
