"""Signed Beckn traffic through real Kafka: grid-signal (the BPP) verifies every order it reads
and signs every callback; each kind of bad record lands in dlq.grid-signal with its reason and
the Beckn error code, and is counted."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from contracts.beckn.models import Action, BecknMessage, DiscoverMessage
from contracts.topics import BECKN_CALLBACKS, BECKN_ORDERS, dead_letter_topic
from services.common.registry import FileRegistry
from services.common.signing import HEADER, KeyId, parse, verify
from services.grid_signal.bootstrap import bootstrap as grid_bootstrap
from services.grid_signal.settings import GridSignalSettings
from services.replay.driver import create_topics
from tests.integration.streams import poll_until, start, stop
from tests.signed import BAP_KID, BPP_ID, BPP_KEY, BPP_KID, MALLORY_KEY, signed, write_registry
from tests.unit.factories import beckn

pytestmark = pytest.mark.kafka

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "seed-cambridge-manchester.yaml"


def discover(at: datetime) -> BecknMessage:
    return beckn(Action.DISCOVER, str(uuid.uuid4()), DiscoverMessage(text_search="compute"),
                 message_id=str(uuid.uuid4()), timestamp=at)


async def send(bootstrap: str, topic: str, records: list[tuple[bytes, list[tuple[str, bytes]]]]
               ) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        for value, headers in records:
            await p.send_and_wait(topic, value, key=b"txn", headers=headers)
    finally:
        await p.stop()


async def test_bad_beckn_records_are_dead_lettered_with_their_code_and_good_ones_signed(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"sig.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    registry = write_registry(tmp_path / "registry.json")
    key_file = tmp_path / "bpp.key"
    key_file.write_text(BPP_KEY.seed_and_public_b64())
    runner = grid_bootstrap(GridSignalSettings(
        scenario=SCENARIO, bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
        beckn_registry_file=registry, beckn_signing_key_file=key_file,
        beckn_subscriber_id=BPP_ID, beckn_key_id=BPP_KID.unique_key_id))
    task = await start(runner)
    try:
        now = time.time()
        wall = datetime.fromtimestamp(now, UTC)
        good, later = discover(wall), discover(wall)
        good_rec = signed(good, now)
        value, headers = signed(discover(wall), now)
        bad = {
            "signature_missing": (value, []),
            "signature_invalid": (value.replace(b'"compute"', b'"c0mpute"'), headers),
            "unknown_key": signed(discover(wall), now, key=MALLORY_KEY,
                                  kid=KeyId(BAP_KID.subscriber_id, "not-registered")),
            "signer_mismatch": signed(discover(wall), now, key=BPP_KEY, kid=BPP_KID),
            "signature_expired": signed(discover(wall), now - 120),
            "message_expired": signed(discover(wall - timedelta(minutes=10)), now),
        }
        assert bad["signature_invalid"][0] != value
        forged_later = (signed(later, now)[0], [])  # unsigned copy of a message sent later
        orders = prefix + BECKN_ORDERS.name
        await send(kafka_bootstrap, orders, [good_rec, *bad.values(), forged_later])
        # the same message again, verbatim and re-signed: both replays; then the real `later`
        await send(kafka_bootstrap, orders, [good_rec, signed(good, time.time()),
                                             signed(later, time.time())])
        expected = [*bad, "signature_missing", "replayed_message", "replayed_message"]
        dlq = await poll_until(kafka_bootstrap, prefix + dead_letter_topic("grid-signal"),
                               lambda rs: len(rs) >= len(expected))
        assert [dict(r.headers)["dlq.reason"].decode() for r in dlq] == expected
        for r in dlq:
            h = dict(r.headers)
            assert h["dlq.beckn.error.code"] == b"30000"
            assert h["dlq.source.topic"].decode() == orders
        assert dlq[0].value == value  # the original bytes are kept
        callbacks = await poll_until(kafka_bootstrap, prefix + BECKN_CALLBACKS.name,
                                     lambda rs: len(rs) >= 2)
        assert len(callbacks) == 2
        reg = FileRegistry.load(registry)
        for cb in callbacks:
            assert cb.timestamp_type == 1  # LogAppendTime: the broker's clock, not the sender's
            sig = parse(dict(cb.headers)[HEADER])
            assert sig.key_id == BPP_KID
            entry = reg.lookup(sig.key_id.subscriber_id, sig.key_id.unique_key_id)
            assert entry is not None
            verify(cb.value, sig, entry.signing_public_key, now=cb.timestamp / 1000)
        answered = {BecknMessage.model_validate_json(cb.value).context.message_id
                    for cb in callbacks}
        assert answered == {good.context.message_id, later.context.message_id}
        checks = runner.metrics.registry.get_sample_value
        assert checks("beckn_signature_checks_total", {"outcome": "verified"}) == 2
        assert checks("beckn_signature_checks_total", {"outcome": "replayed_message"}) == 2
        assert checks("beckn_signature_checks_total", {"outcome": "signature_missing"}) == 2
        assert checks("stream_dead_letters_total", {"reason": "signature_invalid"}) == 1
        assert checks("beckn_messages_signed_total") == 2
        assert not task.done()
    finally:
        await stop(runner, task)
