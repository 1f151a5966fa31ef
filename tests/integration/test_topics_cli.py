"""`degflex topics create` against the real broker: every catalogue topic with its partitions
and dlq.<service>, and a second run creates nothing (the compose/Kubernetes one-shot may rerun)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import CATALOGUE, OPTIONAL_SERVICES, SERVICES, dead_letter_topic
from services.cli import main

pytestmark = pytest.mark.kafka


async def partitions(bootstrap: str, prefix: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(names)
        return {d["topic"].removeprefix(prefix): len(d["partitions"]) for d in described}
    finally:
        await admin.close()


async def test_topics_create_makes_the_catalogue_once(kafka_bootstrap: str, capsys) -> None:
    prefix = f"it.topics.{uuid.uuid4().hex[:8]}."
    args = ["topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", prefix]
    expected = {t.name: t.partitions for t in CATALOGUE}
    expected |= {dead_letter_topic(s): 1 for s in SERVICES + OPTIONAL_SERVICES}
    assert len(expected) == 15 + 7 + 1

    # main runs its own event loop (asyncio.run): call it from a worker thread
    assert await asyncio.to_thread(main, args) == 0
    assert f"topics ready: {len(expected)} created" in capsys.readouterr().out
    assert await partitions(kafka_bootstrap, prefix) == expected

    assert await asyncio.to_thread(main, args) == 0
    assert "topics ready: 0 created" in capsys.readouterr().out
    assert await partitions(kafka_bootstrap, prefix) == expected
