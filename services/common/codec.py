"""The decode and encode edges: bytes <-> typed messages. Nothing past here sees a dict."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from pydantic import ValidationError

from contracts.beckn.models import BecknMessage
from contracts.envelope import Envelope
from contracts.events import EVENT_TYPES, Event

MAX_RECORD_BYTES = 1_000_000

Message = Envelope[Any] | BecknMessage


class DecodeError(ValueError):
    """Bad input: carries a short machine reason and a human detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Decoded(NamedTuple):
    kind: str
    message_id: str
    value: Message


def _parse(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise DecodeError("empty", "record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise DecodeError("too_large", f"{len(raw)} bytes > {MAX_RECORD_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid_utf8", str(exc)) from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DecodeError("invalid_json", str(exc)[:300]) from exc
    if not isinstance(doc, dict):
        raise DecodeError("not_an_object", type(doc).__name__)
    return doc


def _short(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False, include_input=False)[:5]
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs)


_ENVELOPES: dict[str, type[Envelope[Any]]] = {
    name: Envelope[cls] for name, cls in EVENT_TYPES.items()  # type: ignore[valid-type]
}


_BY_TYPE_BYTES = {name.encode(): (name, model) for name, model in _ENVELOPES.items()}
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_.]{1,100})"')


def _fast(raw: bytes) -> Decoded | None:
    """One pass for the common case: an envelope validated straight from its bytes.

    The `type` found by a byte search may be a nested key: the result counts only when the
    validated envelope's own `type` is the one searched for, so the model is the one `decode`'s
    two-step path would pick. Anything else (Beckn, bad input, a nested match) returns None and
    takes that path, which gives the authoritative answer or error.
    """
    found = _TYPE.search(raw)
    if found is None:
        return None
    hit = _BY_TYPE_BYTES.get(found.group(1))
    if hit is None:
        return None
    kind, model = hit
    try:
        env = model.model_validate_json(raw)
    except ValueError:
        return None
    if env.type != kind:
        return None
    return Decoded(kind, env.id, env)


def decode(raw: bytes | None) -> Decoded:
    """Bytes to a typed message, dispatched on Beckn `context.action` or envelope `type`."""
    if raw is not None and len(raw) <= MAX_RECORD_BYTES:
        fast = _fast(raw)
        if fast is not None:
            return fast
    doc = _parse(raw)
    if "context" in doc:
        try:
            msg = BecknMessage.model_validate(doc)
        except ValidationError as exc:
            raise DecodeError("invalid_beckn", _short(exc)) from exc
        kind = f"beckn.{msg.context.action.value}"
        return Decoded(kind, f"{kind}:{msg.context.message_id}", msg)
    etype = doc.get("type")
    model = _ENVELOPES.get(etype) if isinstance(etype, str) else None
    if model is None:
        raise DecodeError("unknown_type", repr(etype)[:100])
    try:
        env = model.model_validate(doc)
    except ValidationError as exc:
        raise DecodeError("invalid_payload", _short(exc)) from exc
    return Decoded(etype, env.id, env)


def encode(value: Message) -> bytes:
    if isinstance(value, BecknMessage):
        return json.dumps(value.to_wire(), separators=(",", ":")).encode()
    return value.model_dump_json().encode()


def envelope(event: Event, *, id: str, time: Any, source: str) -> Envelope[Any]:
    return Envelope[type(event)](id=id, type=event.TYPE, time=time, source=source,  # type: ignore[misc]
                                 payload=event)
