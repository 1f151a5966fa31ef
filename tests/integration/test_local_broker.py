"""A real broker carries records with acks=all and keeps manually committed offsets; the local
broker starts idempotently and stops without leaving a process behind."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.localkafka import LocalBroker, bootstrap_servers_from_env

pytestmark = pytest.mark.kafka

VALUES = [f"reading-{i}".encode() for i in range(5)]


async def test_produced_records_are_consumed_and_commit_is_recorded(
    kafka_bootstrap, unique_topic, unique_group
):
    topic = await unique_topic("roundtrip")
    group = unique_group("roundtrip")
    partition = TopicPartition(topic, 0)
    await _produce(kafka_bootstrap, topic, VALUES)

    consumer = _consumer(kafka_bootstrap, topic, group)
    await consumer.start()
    try:
        received = await _consume(consumer, len(VALUES))
        await consumer.commit()
        committed_by_consumer = await consumer.committed(partition)
    finally:
        await consumer.stop()

    assert [record.value for record in received] == VALUES
    assert [record.offset for record in received] == list(range(len(VALUES)))
    assert committed_by_consumer == len(VALUES)
    assert await _committed_offsets(kafka_bootstrap, group) == {partition: len(VALUES)}


async def test_group_resumes_after_the_manually_committed_offset(
    kafka_bootstrap, unique_topic, unique_group
):
    topic = await unique_topic("resume")
    group = unique_group("resume")
    partition = TopicPartition(topic, 0)
    await _produce(kafka_bootstrap, topic, VALUES)

    first = _consumer(kafka_bootstrap, topic, group)
    await first.start()
    try:
        await _consume(first, len(VALUES))
        await first.commit({partition: 3})
    finally:
        await first.stop()

    second = _consumer(kafka_bootstrap, topic, group)
    await second.start()
    try:
        resumed = await _consume(second, 2)
    finally:
        await second.stop()

    assert [record.offset for record in resumed] == [3, 4]
    assert [record.value for record in resumed] == VALUES[3:]


@pytest.mark.skipif(
    bootstrap_servers_from_env() is not None,
    reason="KAFKA_BOOTSTRAP_SERVERS points at an external broker; local jars may be absent",
)
@pytest.mark.skipif(shutil.which("java") is None, reason="needs java on PATH")
def test_local_broker_start_is_idempotent_and_stop_leaves_no_process(tmp_path):
    port, controller_port = _free_ports(2)
    broker = LocalBroker(home=tmp_path / "kafka", port=port, controller_port=controller_port)
    try:
        bootstrap = broker.start()
        pid = int(broker.pid_file.read_text())
        started = time.monotonic()
        again = broker.start()
        restart_s = time.monotonic() - started
        assert broker.status()
        assert int(broker.pid_file.read_text()) == pid
    finally:
        broker.stop()

    assert bootstrap == again == f"127.0.0.1:{port}"
    assert restart_s < 5
    assert not broker.status()
    assert not broker.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _pids_mentioning(str(broker.properties_file)) == []
    broker.stop()


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"meter-1")
    finally:
        await producer.stop()


def _consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def _consume(
    consumer: AIOKafkaConsumer, count: int, deadline_s: float = 20.0
) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + deadline_s
    while len(records) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500, max_records=count - len(records))
        for batch in batches.values():
            records.extend(batch)
    assert len(records) == count, f"got {len(records)} of {count} records in {deadline_s} s"
    return records


async def _committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {partition: meta.offset for partition, meta in offsets.items()}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _pids_mentioning(needle: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pids
