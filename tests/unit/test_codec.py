"""The decode edge (bytes -> typed message, or a DecodeError with a machine reason), Dedupe and
deterministic ids."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
from prometheus_client import generate_latest

from contracts.beckn.models import Action, BecknMessage
from contracts.events import ClockAdvanced, MeterReadingRecorded
from services.common import codec, runner
from services.common.codec import MAX_RECORD_BYTES, DecodeError, decode, encode
from services.common.ids import stable_id
from services.common.metrics import RUNTIME_DEAD_LETTER_REASONS, stream_metrics
from services.common.runner import Dedupe

from .factories import CAMBRIDGE_TXN, at, beckn, cambridge_order, env, reading, tick


def test_an_envelope_round_trips_to_its_typed_payload() -> None:
    sent = env(reading("cambridge-east", "14:00", "14:01", 15.0, 2.5))

    got = decode(encode(sent))

    assert got.kind == "metering.reading.recorded"
    assert got.message_id == sent.id
    assert isinstance(got.value.payload, MeterReadingRecorded)
    assert got.value.payload.import_kwh == 12.5  # 15 kWh load - 2.5 kWh from the battery
    assert got.value == sent


def test_a_beckn_message_is_dispatched_on_its_action_and_keyed_by_message_id() -> None:
    sent = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order())

    got = decode(encode(sent))

    assert isinstance(got.value, BecknMessage)
    assert got.kind == "beckn.select"
    assert got.message_id == f"beckn.select:{sent.context.message_id}"
    assert got.value == sent


def test_a_callback_sharing_its_requests_message_id_is_not_a_duplicate_of_it() -> None:
    request = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order(), message_id=stable_id("m"))
    callback = beckn(Action.ON_SELECT, CAMBRIDGE_TXN, cambridge_order(), message_id=stable_id("m"))

    assert decode(encode(request)).message_id != decode(encode(callback)).message_id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"x" * (MAX_RECORD_BYTES + 1), "too_large"),
        (b'{"type": "\xff"}', "invalid_utf8"),
        (b'{"type": ', "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"sim.clock.advanced"', "not_an_object"),
        (b'{"id": "x", "payload": {}}', "unknown_type"),
        (b'{"type": "no.such.type"}', "unknown_type"),
        (b'{"type": 7}', "unknown_type"),
        (b'{"context": {"action": "select"}, "message": {}}', "invalid_beckn"),
    ],
    ids=["none", "too-large", "bad-utf8", "truncated-json", "too-deep", "array", "string",
         "no-type", "unknown-type", "type-not-a-string", "bad-beckn"],
)
def test_bad_bytes_are_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw)

    assert caught.value.reason == reason


def test_a_known_type_with_an_invalid_payload_names_the_offending_field() -> None:
    doc = json.loads(encode(tick("14:00")))
    del doc["payload"]["day_end"]

    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(doc).encode())

    assert caught.value.reason == "invalid_payload"
    assert "payload.day_end" in caught.value.detail


def test_a_payload_breaking_its_own_invariant_is_an_invalid_payload() -> None:
    doc = json.loads(encode(env(reading("manchester", "14:00", "14:01", 25.0))))
    doc["payload"]["import_kwh"] = 30.0  # but load 25 - battery 0 = 25

    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(doc).encode())

    assert caught.value.reason == "invalid_payload"


def test_unknown_envelope_fields_are_refused() -> None:
    doc = json.loads(encode(tick("14:00")))
    doc["payload"]["extra"] = 1

    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(doc).encode())

    assert caught.value.reason == "invalid_payload"


def test_a_naive_timestamp_is_an_invalid_payload() -> None:
    doc = json.loads(encode(tick("14:00")))
    doc["payload"]["now"] = "2025-11-17T14:00:00"  # no offset: event time must be aware

    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(doc).encode())

    assert caught.value.reason == "invalid_payload"


def test_a_type_key_nested_before_the_envelopes_own_is_not_taken_for_it() -> None:
    # the one-pass decode searches the bytes for "type"; here it first meets a nested one
    doc = json.loads(encode(env(reading("manchester", "14:00", "14:01", 25.0))))
    payload = {"type": "sim.clock.advanced", **doc.pop("payload")}
    raw = json.dumps({"payload": payload, **doc}).encode()

    with pytest.raises(DecodeError) as caught:
        decode(raw)

    assert caught.value.reason == "invalid_payload"  # the extra key, as the two-step path says
    assert "payload.type" in caught.value.detail


def test_an_envelope_with_its_keys_in_any_order_decodes_the_same() -> None:
    sent = env(reading("manchester", "14:00", "14:01", 25.0))
    doc = json.loads(encode(sent))
    raw = json.dumps(dict(reversed(list(doc.items()))), indent=1).encode()

    got = decode(raw)

    assert (got.kind, got.message_id, got.value) == ("metering.reading.recorded", sent.id, sent)


def test_dedupe_sees_each_id_once() -> None:
    seen = Dedupe()

    assert [seen.first_time(i) for i in ("a", "b", "a", "b", "c")] == [
        True, True, False, False, True]


def test_dedupe_forgets_the_oldest_id_beyond_its_capacity() -> None:
    seen = Dedupe(capacity=2)
    for i in ("a", "b", "c"):  # "c" pushes "a" out of a memory of two
        seen.first_time(i)

    assert seen.first_time("c") is False
    assert seen.first_time("a") is True


def test_stable_id_is_the_same_for_the_same_cause_and_differs_otherwise() -> None:
    assert stable_id("tick", at("14:00").isoformat()) == stable_id("tick", at("14:00").isoformat())
    assert stable_id("tick", at("14:00").isoformat()) != stable_id("tick", at("14:30").isoformat())


def test_clock_payload_keeps_its_instants() -> None:
    got = decode(encode(tick("14:00"))).value.payload

    assert isinstance(got, ClockAdvanced)
    assert (got.now, got.day_start, got.day_end) == (at("14:00"), at("00:00"), at("24:00"))


def test_every_reason_the_codec_and_runner_give_is_exported_at_zero_from_start() -> None:
    """A clean service still exports stream_dead_letters_total{reason} = 0 for each reason the
    shared runtime can give, so dashboards and `increase()` see 0, not an absent series."""
    given = set()
    for module in (codec, runner):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("DecodeError", "HandlerRejected") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                given.add(node.args[0].value)
    given.add("handler_error")  # the runner's catch-all for a handler's exception
    assert given == set(RUNTIME_DEAD_LETTER_REASONS)
    text = generate_latest(stream_metrics().registry).decode()
    for reason in RUNTIME_DEAD_LETTER_REASONS:
        assert f'stream_dead_letters_total{{reason="{reason}"}} 0.0' in text
