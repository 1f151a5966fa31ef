"""A runner reaches a SASL/SCRAM listener with the settings alone: a second local KRaft broker
(plaintext inter-broker listener, SCRAM-SHA-512 client listener, the user made at format time)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.events import ClockAdvanced
from contracts.topics import CLOCK
from services.common.codec import encode, envelope
from services.common.kafka_security import kafka_client_kwargs
from services.common.localkafka import LocalBroker, LocalKafkaError
from services.common.metrics import stream_metrics
from services.common.runner import Runner, ignore
from services.common.settings import ServiceSettings
from tests.integration.streams import start, stop, wait_for

pytestmark = pytest.mark.kafka

USER, PASSWORD = "planner", "scram-pw-5e1f"

PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=INTERNAL://127.0.0.1:{port},CLIENT://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=INTERNAL://127.0.0.1:{port},CLIENT://127.0.0.1:{sasl}
listener.security.protocol.map=INTERNAL:PLAINTEXT,CLIENT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs={log_dirs}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


@dataclass(frozen=True)
class ScramBroker(LocalBroker):
    sasl_port: int = 0

    def _write_properties(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(PROPERTIES.format(
            port=self.port, sasl=self.sasl_port, controller=self.controller_port,
            log_dirs=self.data_dir))

    def _format_storage(self, java: str) -> None:
        result = subprocess.run(
            [java, *self._java_args(), "kafka.tools.StorageTool", "format",
             "--cluster-id", "c2FzbC10ZXN0LWNsdXN0ZXI", "--config", str(self.properties_file),
             "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
            cwd=self.home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting failed:\n{result.stdout[-3000:]}")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramBroker]:
    port, controller, sasl = free_ports(3)
    broker = ScramBroker(home=tmp_path_factory.mktemp("kafka-scram"), port=port,
                         controller_port=controller, sasl_port=sasl)
    broker.start(timeout_s=120)
    try:
        yield broker
    finally:
        broker.stop()


def scram(broker: ScramBroker, password: str = PASSWORD, **kw: object) -> ServiceSettings:
    return ServiceSettings(service_name="sasl-test", bootstrap_servers=f"127.0.0.1:"
                           f"{broker.sasl_port}", topic_prefix="sasl.",
                           kafka_security_protocol="SASL_PLAINTEXT",
                           kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=USER,
                           kafka_sasl_password=password, **kw)


async def test_a_runner_consumes_and_commits_through_a_scram_listener(
        scram_broker: ScramBroker) -> None:
    s = scram(scram_broker)
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers, **kafka_client_kwargs(s))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(s.topic(CLOCK.name), 1, 1)])
    finally:
        await admin.close()
    runner: Runner[None] = Runner(s, None, {"sim.clock.advanced": ignore}, [CLOCK],
                                  stream_metrics())
    task = await start(runner, timeout_s=60)
    try:
        t = datetime(2025, 11, 17, tzinfo=UTC)
        tick = ClockAdvanced(now=t, day_start=t, day_end=t.replace(day=18))
        assert runner._producer is not None  # noqa: SLF001 - the runner's own SASL producer
        await runner._producer.send_and_wait(  # noqa: SLF001
            s.topic(CLOCK.name), encode(envelope(tick, id="tick-0", time=t, source="test")))
        ok = runner.metrics.consumed.labels(s.topic(CLOCK.name), "sim.clock.advanced", "ok")
        await wait_for(lambda: ok._value.get() == 1)  # noqa: SLF001
    finally:
        await stop(runner, task)


async def test_a_wrong_password_is_refused(scram_broker: ScramBroker,
                                           caplog: pytest.LogCaptureFixture) -> None:
    s = scram(scram_broker, password="not-the-password")
    runner: Runner[None] = Runner(s, None, {}, [CLOCK], stream_metrics())
    with pytest.raises(KafkaError) as e:
        await asyncio.wait_for(runner.run(), 60)
    assert "Unable to bootstrap" in str(e.value)
    assert "SaslAuthenticationFailed" in caplog.text  # the reason aiokafka logs for it
