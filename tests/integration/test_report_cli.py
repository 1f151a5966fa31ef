"""`degflex report` through a real broker: the settlement service settles the seed day from
its topics, then the command reads the statements topic and writes the day's reports."""

from __future__ import annotations

import asyncio
import csv
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import consumed_by, owned_by
from services.cli import main
from services.common.codec import encode
from services.settlement.bootstrap import bootstrap
from services.settlement.settings import SettlementSettings
from tests.unit.factories import CAMBRIDGE_TXN, at, settlement_day

pytestmark = pytest.mark.kafka


async def _topics(bootstrap_servers: str, prefix: str, create: bool) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        names = {prefix + t.name: t.partitions for t in (*consumed_by("settlement"),
                                                          *owned_by("settlement"))}
        names[prefix + "dlq.settlement"] = 1
        if create:
            await admin.create_topics([NewTopic(n, p, 1) for n, p in names.items()])
        else:
            await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def _settle_through_kafka(bootstrap_servers: str, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for topic, key, value in settlement_day().records():
            await producer.send_and_wait(prefix + topic, encode(value), key=key.encode())
    finally:
        await producer.stop()
    settings = SettlementSettings(bootstrap_servers=bootstrap_servers, topic_prefix=prefix)
    runner = bootstrap(settings)
    task = asyncio.create_task(runner.run())
    try:
        from services.settlement.report_cli import read_topic, settled_days

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            days, _ = settled_days(await read_topic(
                bootstrap_servers, prefix + "settlement.statements.v1", 10))
            if days:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("settlement published no statement")
    finally:
        runner.stop()
        await task


@pytest.fixture(scope="module")
def settled_prefix(kafka_bootstrap: str) -> Iterator[str]:
    prefix = f"test.report.{uuid.uuid4().hex[:8]}."
    asyncio.run(_topics(kafka_bootstrap, prefix, create=True))
    try:
        asyncio.run(_settle_through_kafka(kafka_bootstrap, prefix))
        yield prefix
    finally:
        asyncio.run(_topics(kafka_bootstrap, prefix, create=False))


def test_report_command_writes_the_settled_day_from_kafka(
        kafka_bootstrap: str, settled_prefix: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"

    code = main(["report", "--bootstrap", kafka_bootstrap, "--prefix", settled_prefix,
                 "--out", str(out)])

    assert code == 0
    day = out / "2025-11-17"
    assert capsys.readouterr().out.strip() == str(day / "report.html")
    costs = list(csv.DictReader((day / "costs.csv").open()))
    assert (costs[0]["scope"], float(costs[0]["baseline_gbp"]),
            float(costs[0]["actual_gbp"])) == ("day", 1248.0, pytest.approx(1207.733333))
    assert float(costs[0]["utilisation_payment_gbp"]) == 135
    carbon = list(csv.DictReader((day / "carbon.csv").open()))
    assert (float(carbon[0]["baseline_kg"]), float(carbon[0]["actual_kg"])) == (734.4, 669.8)
    (ver,) = csv.DictReader((day / "verification.csv").open())
    assert (ver["verdict"], float(ver["delivered_kwh"])) == ("delivered", 900)
    assert len(list(csv.DictReader((day / "energy-log.csv").open()))) == 96
    txn = json.loads((day / "transactions" / f"{CAMBRIDGE_TXN}.json").read_text())
    assert txn["order"]["flex_payment_gbp"] == 135
    assert (day / "report.html").read_text().count("<svg") == 3


def test_report_command_for_a_day_not_settled_fails(
        kafka_bootstrap: str, settled_prefix: str, tmp_path: Path) -> None:
    assert main(["report", "--bootstrap", kafka_bootstrap, "--prefix", settled_prefix,
                 "--out", str(tmp_path), "--day", "2025-11-18"]) == 1


def test_report_command_on_a_missing_topic_is_an_error(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    assert main(["report", "--bootstrap", kafka_bootstrap, "--prefix", "no.such.prefix.",
                 "--out", str(tmp_path), "--timeout", "10"]) == 2


async def _run_until(runner: object, done: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    task = asyncio.create_task(runner.run())  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + timeout_s
        while not await done():
            if task.done() or time.monotonic() > deadline:
                raise TimeoutError("the settlement runner did not get there")
            await asyncio.sleep(0.2)
    finally:
        runner.stop()  # type: ignore[attr-defined]
        await task


def test_a_restart_settles_nothing_twice_and_a_fresh_group_settles_identically(
        kafka_bootstrap: str, settled_prefix: str) -> None:
    from services.settlement.report_cli import read_topic

    topic = settled_prefix + "settlement.statements.v1"

    async def go() -> None:
        before = await read_topic(kafka_bootstrap, topic, 10)
        assert len(before) == 3  # two site records, then the statement

        settings = SettlementSettings(bootstrap_servers=kafka_bootstrap,
                                      topic_prefix=settled_prefix)
        again = bootstrap(settings)

        async def rebuilt() -> bool:
            return again.ready

        await _run_until(again, rebuilt, 60)
        await asyncio.sleep(0)
        assert again.state.settled == {at("24:00")}  # state rebuilt from Kafka alone
        assert await read_topic(kafka_bootstrap, topic, 10) == before  # nothing re-published

        fresh = bootstrap(settings.model_copy(
            update={"group_id": settled_prefix + "settlement-fresh"}))

        async def settled_again() -> bool:
            return len(await read_topic(kafka_bootstrap, topic, 10)) >= 6

        await _run_until(fresh, settled_again, 120)
        after = await read_topic(kafka_bootstrap, topic, 10)
        assert after[3:] == before  # the same day, byte for byte (same ids, same digests)

    asyncio.run(go())
