"""Beckn message signatures (BECKN-006): BLAKE2b-512 digest, ed25519 over the signing string.

Pure functions and small value types; no I/O and no clock (times are parameters). The
`Authorization` value is the one BECKN-006 puts in the HTTP header; on Kafka it travels as a
record header of the same name.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "ed25519"
SIGNED_HEADERS = "(created) (expires) digest"
HEADER = "Authorization"

# BECKN-005 has no authentication codes; its generic "30000 Invalid request error" goes with
# the HTTP 401 NACK that BECKN-006 prescribes for a signature that cannot be verified.
BECKN_ERROR_CODE = "30000"
BECKN_ERROR_MESSAGE = "Invalid request error"


class SignatureRejected(ValueError):
    """A message that must not be processed: `reason` is a short machine word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.code = BECKN_ERROR_CODE


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def digest(body: bytes) -> str:
    """Base64 of BLAKE2b-512 of the exact body bytes."""
    return b64(hashlib.blake2b(body, digest_size=64).digest())


def signing_string(created: int, expires: int, body_digest: str) -> str:
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={body_digest}"


class PrivateKey:
    """An ed25519 signing key. Its repr never shows the key."""

    __slots__ = ("_key", "public_b64")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_b64 = b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_b64(cls, text: str) -> PrivateKey:
        """The 32-byte seed, or the 64-byte seed||public key (libsodium, BECKN-006's example)."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("signing key is not base64") from exc
        if len(raw) not in (32, 64):
            raise ValueError(f"signing key must be 32 or 64 bytes, got {len(raw)}")
        key = cls(Ed25519PrivateKey.from_private_bytes(raw[:32]))
        if len(raw) == 64 and b64(raw[32:]) != key.public_b64:
            raise ValueError("signing key: the public half does not match the seed")
        return key

    def seed_and_public_b64(self) -> str:
        """The libsodium form (64 bytes, base64) that `from_b64` reads back."""
        seed = self._key.private_bytes_raw()
        return b64(seed + base64.b64decode(self.public_b64))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_b64!r})"


@dataclass(frozen=True)
class KeyId:
    subscriber_id: str
    unique_key_id: str
    algorithm: str = ALGORITHM

    def __str__(self) -> str:
        return f"{self.subscriber_id}|{self.unique_key_id}|{self.algorithm}"


@dataclass(frozen=True)
class Signature:
    """The parsed `Authorization: Signature ...` value."""

    key_id: KeyId
    algorithm: str
    created: int
    expires: int
    headers: str
    signature: str

    def header_value(self) -> str:
        return (f'Signature keyId="{self.key_id}",algorithm="{self.algorithm}",'
                f'created="{self.created}",expires="{self.expires}",'
                f'headers="{self.headers}",signature="{self.signature}"')


_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')
MAX_HEADER_BYTES = 2048


def parse(value: bytes | str) -> Signature:
    """Parse an `Authorization` value; raises SignatureRejected("signature_malformed")."""
    if isinstance(value, bytes):
        if len(value) > MAX_HEADER_BYTES:
            raise SignatureRejected("signature_malformed", "Authorization header too long")
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise SignatureRejected("signature_malformed", "Authorization is not ASCII") from exc
    if not value.startswith("Signature "):
        raise SignatureRejected("signature_malformed", "auth-scheme is not Signature")
    rest = value[len("Signature "):]
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            raise SignatureRejected("signature_malformed", f"cannot parse at {rest[pos:pos + 40]!r}")
        if m.group(1) in params:
            raise SignatureRejected("signature_malformed", f"{m.group(1)} given twice")
        params[m.group(1)] = m.group(2)
        pos = m.end()
    missing = {"keyId", "algorithm", "created", "expires", "headers", "signature"} - set(params)
    if missing:
        raise SignatureRejected("signature_malformed", f"missing {sorted(missing)}")
    parts = params["keyId"].split("|")
    if len(parts) != 3 or not all(parts):
        raise SignatureRejected("signature_malformed",
                                "keyId is not subscriber_id|unique_key_id|algorithm")
    try:
        created, expires = int(params["created"]), int(params["expires"])
    except ValueError as exc:
        raise SignatureRejected("signature_malformed", "created/expires not integers") from exc
    return Signature(KeyId(*parts), params["algorithm"], created, expires, params["headers"],
                     params["signature"])


def sign(body: bytes, key: PrivateKey, key_id: KeyId, created: int, expires: int) -> Signature:
    text = signing_string(created, expires, digest(body))
    return Signature(key_id, ALGORITHM, created, expires, SIGNED_HEADERS,
                     b64(key.sign(text.encode("utf-8"))))


def verify(body: bytes, sig: Signature, public_key_b64: str, now: float,
           skew_s: float = 5.0) -> None:
    """Check one signature against a public key and a receive time (unix seconds).

    BECKN-006: the keyId's algorithm must match `algorithm`; the signed headers are
    `(created) (expires) digest`; a `created` in the future or an `expires` in the past must not
    be processed (`skew_s` allows for clocks that disagree a little).
    """
    if sig.algorithm != ALGORITHM or sig.key_id.algorithm != ALGORITHM:
        raise SignatureRejected("signature_malformed",
                                f"algorithm {sig.algorithm!r}/{sig.key_id.algorithm!r}, "
                                f"expected {ALGORITHM}")
    if sig.headers != SIGNED_HEADERS:
        raise SignatureRejected("signature_malformed", f"headers={sig.headers!r}")
    if sig.expires < sig.created:
        raise SignatureRejected("signature_malformed", "expires before created")
    if sig.created > now + skew_s:
        raise SignatureRejected("signature_expired", f"created {sig.created} is in the future "
                                f"(received {now:.0f})")
    if sig.expires < now - skew_s:
        raise SignatureRejected("signature_expired", f"expired at {sig.expires}, received "
                                f"{now:.0f}")
    try:
        raw_sig = base64.b64decode(sig.signature, validate=True)
        public = _public_key(public_key_b64)
    except (binascii.Error, ValueError) as exc:
        raise SignatureRejected("signature_invalid", f"undecodable signature or key: {exc}") from exc
    text = signing_string(sig.created, sig.expires, digest(body))
    try:
        public.verify(raw_sig, text.encode("utf-8"))
    except InvalidSignature as exc:
        raise SignatureRejected("signature_invalid",
                                f"ed25519 signature does not verify for {sig.key_id}") from exc


@functools.lru_cache(maxsize=1024)
def _public_key(b64_text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64_text, validate=True))


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def ttl_seconds(ttl: str) -> int:
    """An ISO 8601 duration in days/hours/minutes/seconds (Beckn `context.ttl`, e.g. PT30S)."""
    m = _DURATION.match(ttl)
    if m is None or ttl in ("P", "PT") or ttl.endswith("T"):
        raise ValueError(f"unsupported ttl {ttl!r} (expected e.g. PT30S, PT5M, P1D)")
    d, h, mi, s = m.groups()
    return int(timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
                         seconds=float(s or 0)).total_seconds())
