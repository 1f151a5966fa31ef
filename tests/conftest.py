"""Session-wide real Kafka broker and per-test unique topics and consumer groups."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from services.common.localkafka import LocalBroker, LocalKafkaError, bootstrap_servers_from_env

TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker.

    In order: ``$KAFKA_BOOTSTRAP_SERVERS``; a local KRaft broker on free ports in the session's
    temporary directory (jars in .cache/kafka/libs); a testcontainers Kafka when a Docker daemon
    answers. Fails the tests that need it when none is available.
    """
    from_env = bootstrap_servers_from_env()
    if from_env is not None:
        yield from_env
        return

    broker_port, controller_port = _free_ports(2)
    broker = LocalBroker(
        home=tmp_path_factory.mktemp("kafka"), port=broker_port, controller_port=controller_port
    )
    try:
        bootstrap = broker.start()
    except LocalKafkaError as exc:
        local_failure = exc
    else:
        try:
            yield bootstrap
        finally:
            broker.stop()
        return

    if not _docker_answers():
        pytest.fail(
            "No Kafka broker for the tests: KAFKA_BOOTSTRAP_SERVERS is unset, the local broker "
            f"did not start and no Docker daemon answers.\nLocal broker: {local_failure}",
            pytrace=False,
        )
    warnings.warn(f"local Kafka broker unavailable, using a container: {local_failure}")
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as container:
        yield container.get_bootstrap_server()


@pytest.fixture
async def unique_topic(kafka_bootstrap: str) -> AsyncIterator[TopicFactory]:
    """Factory: ``await unique_topic("orders", partitions=3)`` creates ``test.orders.<8 hex>``.

    The topic exists and has leaders for all partitions when the name is returned; the test's
    topics are deleted afterwards.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int = 1) -> str:
        topic = f"test.{name}.{uuid.uuid4().hex[:8]}"
        response = await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
        for _, error_code, *message in response.topic_errors:
            if error_code:
                raise for_code(error_code)(f"creating topic {topic}: {message}")
        created.append(topic)
        await _wait_for_leaders(admin, topic, partitions)
        return topic

    try:
        yield create
    finally:
        try:
            if created:
                await admin.delete_topics(created)
        finally:
            await admin.close()


@pytest.fixture
def unique_group() -> Callable[..., str]:
    """Factory: ``unique_group("billing")`` returns a consumer group id no other test uses."""

    def make(name: str = "group") -> str:
        return f"test.{name}.{uuid.uuid4().hex[:8]}"

    return make


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, timeout_s: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        (described,) = await admin.describe_topics([topic])
        leaders = [p["leader"] for p in described["partitions"]]
        if described["error_code"] == 0 and len(leaders) == partitions and min(leaders) >= 0:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topic {topic} has no leader for every partition: {described}")
        await asyncio.sleep(0.05)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure (no SDK, no socket, daemon down) means no usable Docker
        return False
