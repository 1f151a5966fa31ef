"""Signed Beckn traffic on Kafka: the runner's optional verify step and signing step.

Settings-driven and off unless `beckn_registry_file` is set. Consumers verify every record on a
`beckn.*` topic before its handler runs; producers sign every Beckn message they send. A record
that fails is dead-lettered with a `SignatureRejected` reason (docs/security.md). "Now" is the
record's log time (the Beckn topics use `LogAppendTime`, so the broker, not the sender, sets
it): the decision is the same when the record is re-read at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from prometheus_client import CollectorRegistry, Counter
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from contracts.beckn.models import BecknMessage
from contracts.topics import CATALOGUE, owned_by
from services.common.registry import FileRegistry, Registry
from services.common.signing import (
    HEADER,
    KeyId,
    PrivateKey,
    SignatureRejected,
    parse,
    sign,
    ttl_seconds,
    verify,
)

BECKN_TOPICS: tuple[str, ...] = tuple(t.name for t in CATALOGUE if t.name.startswith("beckn."))


class BecknAuthSettings(BaseSettings):
    """Mixed into ServiceSettings (env `DEGFLEX_BECKN_*`)."""

    beckn_registry_file: Path | None = Field(
        None, description="registry lookup response (JSON); set = verify every Beckn record")
    beckn_subscriber_id: str | None = None
    beckn_key_id: str | None = Field(None, description="unique_key_id of the signing key")
    beckn_signing_key: SecretStr | None = Field(
        None, description="base64 ed25519 key (32-byte seed or 64-byte seed||public)")
    beckn_signing_key_file: Path | None = Field(None, description="file holding that base64 key")
    beckn_clock_skew_s: float = Field(5.0, ge=0, le=300)
    beckn_check_message_ttl: bool = Field(
        True, description="reject when context.timestamp + context.ttl is before the log time; "
                          "off only to replay a past day in event time (the demo)")

    @model_validator(mode="after")
    def _signing_is_complete(self) -> Self:
        if self.beckn_signing_key is not None and self.beckn_signing_key_file is not None:
            raise ValueError("set beckn_signing_key or beckn_signing_key_file, not both")
        if self.signs and not (self.beckn_subscriber_id and self.beckn_key_id):
            raise ValueError("a Beckn signing key needs beckn_subscriber_id and beckn_key_id")
        return self

    @property
    def signs(self) -> bool:
        return self.beckn_signing_key is not None or self.beckn_signing_key_file is not None

    def load_signing_key(self) -> PrivateKey | None:
        if self.beckn_signing_key is not None:
            return PrivateKey.from_b64(self.beckn_signing_key.get_secret_value())
        if self.beckn_signing_key_file is not None:
            return PrivateKey.from_b64(self.beckn_signing_key_file.read_text("ascii"))
        return None


def _is_request(msg: BecknMessage) -> bool:
    return not msg.context.action.value.startswith("on_")


class BecknAuth:
    """Verifies inbound and signs outbound Beckn records for one service."""

    def __init__(self, registry: Registry | None, key: PrivateKey | None, key_id: KeyId | None,
                 topics: Sequence[str], metrics: CollectorRegistry, *, skew_s: float = 5.0,
                 check_message_ttl: bool = True) -> None:
        self.registry = registry
        self.topics = frozenset(topics) if registry is not None else frozenset()
        self._key = key
        self._key_id = key_id
        self._skew = skew_s
        self._check_ttl = check_message_ttl
        self._checks = Counter("beckn_signature_checks_total",
                               "Beckn records verified (outcome=verified) or rejected (outcome="
                               "the dead-letter reason)", ["outcome"], registry=metrics)
        self._verified = self._checks.labels("verified")
        self._signed = Counter("beckn_messages_signed_total", "Beckn messages signed and sent",
                               registry=metrics)

    @property
    def signs(self) -> bool:
        return self._key is not None

    def verify(self, body: bytes, headers: Sequence[tuple[str, bytes]], msg: BecknMessage,
               log_time_ms: int, seen: bool) -> None:
        """Raise SignatureRejected unless the record is signed, fresh and not seen before.

        BECKN-006: the keyId names a registry entry whose algorithm matches; the key is
        SUBSCRIBED and valid over the signature's life; the signature verifies over the exact
        bytes; `created` is not in the future and `expires` not in the past. Requests must be
        signed by their `bap_id` (a BAP), callbacks by their `bpp_id` (a BPP). A message id
        already handled is a replay, as is a context.timestamp older than its ttl.
        """
        try:
            self._verify(body, headers, msg, log_time_ms / 1000, seen)
        except SignatureRejected as exc:
            self._checks.labels(exc.reason).inc()
            raise
        self._verified.inc()

    def _verify(self, body: bytes, headers: Sequence[tuple[str, bytes]], msg: BecknMessage,
                now: float, seen: bool) -> None:
        assert self.registry is not None
        values = [v for k, v in headers if k.lower() == HEADER.lower()]
        if not values:
            raise SignatureRejected("signature_missing", "no Authorization header")
        if len(values) > 1:
            raise SignatureRejected("signature_malformed", "more than one Authorization header")
        sig = parse(values[0])
        sub = self.registry.lookup(sig.key_id.subscriber_id, sig.key_id.unique_key_id)
        if sub is None:
            raise SignatureRejected("unknown_key", f"{sig.key_id} is not in the registry")
        created = datetime.fromtimestamp(sig.created, UTC)
        expires = datetime.fromtimestamp(sig.expires, UTC)
        if not (sub.valid_at(created) and sub.valid_at(expires)):
            raise SignatureRejected("unknown_key", f"{sig.key_id} is {sub.status}, valid "
                                    f"{sub.valid_from:%Y-%m-%dT%H:%M:%SZ} to "
                                    f"{sub.valid_until:%Y-%m-%dT%H:%M:%SZ}")
        ctx = msg.context
        sender, role = (ctx.bap_id, "BAP") if _is_request(msg) else (ctx.bpp_id, "BPP")
        if sub.subscriber_id != sender or sub.type != role:
            raise SignatureRejected("signer_mismatch", f"{ctx.action.value} from {sender} "
                                    f"({role}) signed by {sub.subscriber_id} ({sub.type})")
        verify(body, sig, sub.signing_public_key, now, self._skew)
        try:
            ttl = ttl_seconds(ctx.ttl)
        except ValueError as exc:
            raise SignatureRejected("signature_malformed", str(exc)) from exc
        if sig.expires - sig.created > ttl:
            raise SignatureRejected("signature_malformed", f"signature valid "
                                    f"{sig.expires - sig.created} s > context.ttl {ctx.ttl}")
        if self._check_ttl:
            received = datetime.fromtimestamp(now, UTC)
            skew = timedelta(seconds=self._skew)
            if ctx.timestamp + timedelta(seconds=ttl) < received - skew:
                raise SignatureRejected("message_expired", f"context.timestamp "
                                        f"{ctx.timestamp.isoformat()} + ttl {ctx.ttl} is before "
                                        f"{received.isoformat()}")
            if ctx.timestamp > received + skew:
                raise SignatureRejected("message_expired", f"context.timestamp "
                                        f"{ctx.timestamp.isoformat()} is in the future")
        if seen:
            raise SignatureRejected("replayed_message",
                                    f"message_id {ctx.message_id} ({ctx.action.value}) was "
                                    "already handled")

    def sign(self, body: bytes, msg: BecknMessage, now: float | None = None
             ) -> list[tuple[str, bytes]]:
        """The record headers carrying this service's signature of `body` (valid for the ttl)."""
        assert self._key is not None and self._key_id is not None
        created = int(time.time() if now is None else now)
        sig = sign(body, self._key, self._key_id, created, created + ttl_seconds(msg.context.ttl))
        self._signed.inc()
        return [(HEADER, sig.header_value().encode("ascii"))]


def beckn_auth(settings: Any, metrics: CollectorRegistry) -> BecknAuth | None:
    """The service's BecknAuth, or None when neither verifying nor signing is configured."""
    s: BecknAuthSettings = settings
    if s.beckn_registry_file is None and not s.signs:
        return None
    registry = FileRegistry.load(s.beckn_registry_file) if s.beckn_registry_file else None
    key = s.load_signing_key()
    sends = [t.name for t in owned_by(settings.service_name) if t.name in BECKN_TOPICS]
    if registry is not None and key is None and sends:
        raise ValueError(f"{settings.service_name} sends Beckn messages ({', '.join(sends)}) "
                         "and verification is on, but it has no signing key: its messages "
                         "would all be rejected")
    key_id = (KeyId(s.beckn_subscriber_id, s.beckn_key_id)
              if key is not None and s.beckn_subscriber_id and s.beckn_key_id else None)
    topics = [settings.topic(name) for name in BECKN_TOPICS]
    return BecknAuth(registry, key, key_id, topics, metrics, skew_s=s.beckn_clock_skew_s,
                     check_message_ttl=s.beckn_check_message_ttl)
