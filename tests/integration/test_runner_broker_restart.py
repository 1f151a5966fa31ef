"""The runner rides out a broker that stops (SIGTERM, a controlled shutdown) while it produces
and stays away for longer than its producer's request timeout: the outputs the producer gives
up on are sent again, the runner does not exit, and every input has its output once it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.events import MeterReadingRecorded
from contracts.topics import READINGS, Topic
from services.common.codec import decode, encode, envelope
from services.common.localkafka import LocalBroker, restartable_port
from services.common.metrics import stream_metrics
from services.common.runner import Inbound, Out, Runner
from services.common.settings import ServiceSettings
from tests.integration.streams import start, stop

pytestmark = pytest.mark.kafka

N = 20_000
HANDLER_S = 0.0005
REQUEST_TIMEOUT_MS = 3_000
"""The producer's: a pending batch with no known leader is given up after this."""
DOWN_S = 8.0
"""Longer than REQUEST_TIMEOUT_MS, so the producer gives up on what it holds."""
ECHO = Topic("test.echo.v1", "site_id", ("metering.reading.recorded",), "echo", ())


def echo(state: None, m: Inbound) -> Sequence[Out]:
    """A busy service: at most ~2,000 records a second, so it is still producing when the
    broker stops, whatever the machine's speed."""
    time.sleep(HANDLER_S)
    return [Out(ECHO, m.key.decode() if m.key else "", m.value)]


def readings() -> list[tuple[bytes, bytes]]:
    t0 = datetime(2025, 11, 17, tzinfo=UTC)
    out = []
    for i in range(N):
        t = t0 + timedelta(minutes=i % 1440)
        site = f"site-{i % 9}"
        ev = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=1),
                                  import_kwh=1.0, load_kwh=1.0, battery_discharge_kwh=0.0)
        out.append((site.encode(), encode(envelope(ev, id=f"r-{i:06d}", time=t, source="test"))))
    return out


async def committed_all(bootstrap: str, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await probe.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(READINGS.partitions)]
        ends = await probe.end_offsets(tps)
        got = await admin.list_consumer_group_offsets(group)
        return all(tp in got and got[tp].offset >= ends[tp] for tp in tps)
    finally:
        await probe.stop()
        await admin.close()


async def ids_on(bootstrap: str, topic: str) -> list[str]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(ECHO.partitions)]
        c.assign(tps)
        ends = await c.end_offsets(tps)
        await c.seek_to_beginning(*tps)
        ids: list[str] = []
        while [tp for tp in tps if await c.position(tp) < ends[tp]]:
            for recs in (await c.getmany(timeout_ms=500)).values():
                ids += [decode(r.value).message_id for r in recs]
        return ids
    finally:
        await c.stop()


async def test_outputs_given_up_during_an_outage_are_sent_again(tmp_path: Path) -> None:
    port = restartable_port()
    while (controller_port := restartable_port()) == port:
        pass
    broker = LocalBroker(home=tmp_path / "kafka", port=port, controller_port=controller_port)
    bootstrap = await asyncio.to_thread(broker.start, 120)
    prefix = f"rbr.{uuid.uuid4().hex[:8]}."
    source, sink = prefix + READINGS.name, prefix + ECHO.name
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(source, READINGS.partitions, 1),
                                   NewTopic(sink, ECHO.partitions, 1)])
        await admin.close()
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
        await p.start()
        sends = [await p.send(source, v, key=k) for k, v in readings()]
        await asyncio.gather(*sends)
        await p.stop()

        settings = ServiceSettings(service_name="echo", bootstrap_servers=bootstrap,
                                   topic_prefix=prefix, max_batch=500,
                                   producer_request_timeout_ms=REQUEST_TIMEOUT_MS)
        runner = Runner(settings, None, {"metering.reading.recorded": echo},
                        [READINGS], stream_metrics(), resend_backoff_s=0.5)
        task = await start(runner, 60)
        produced = runner.metrics.produced.labels(sink)
        deadline = time.monotonic() + 60
        while produced._value.get() < N // 10:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.01)
        # the broker goes while the runner produces, and stays away past the request timeout
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(broker.start, 120)

        deadline = time.monotonic() + 120
        while not await committed_all(bootstrap, settings.group, source):
            assert not task.done(), f"the runner exited: {task.exception()!r}"
            assert time.monotonic() < deadline, "the runner did not catch up"
            await asyncio.sleep(0.5)
        retries = {s.labels["reason"]: s.value for m in runner.metrics.produce_retries.collect()
                   for s in m.samples if s.name.endswith("_total")}
        await stop(runner, task)

        ids = await ids_on(bootstrap, sink)
        # every input has its output, under the input's id; a copy would be the same id
        assert set(ids) == {f"r-{i:06d}" for i in range(N)}
        # the producer gave some up while the broker was away (a send found no room, or a batch
        # failed waiting for a leader: which one depends on timing), and the runner tried again
        assert sum(retries.values()) > 0, retries
    finally:
        await asyncio.to_thread(broker.stop)
