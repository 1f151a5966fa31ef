"""The audit trail through real Kafka: the seed day's log verifies, tampered copies (on a new
topic and in a file) do not, and a restarted audit service re-reading every input adds nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import AUDIT_LOG, consumed_by
from services.audit.adapters import read_log

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[2]


def degflex(bootstrap: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], check=False, cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def seed_day(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The seed day replayed through the seven services; its topic prefix and export."""
    out = tmp_path_factory.mktemp("audit")
    prefix = f"e2e.audit.{uuid.uuid4().hex[:8]}."
    demo = degflex(kafka_bootstrap, "demo", "--out", str(out), "--prefix", prefix)
    assert demo.returncode == 0, demo.stderr[-4000:]
    export = degflex(kafka_bootstrap, "audit", "export", "--prefix", prefix, "--out",
                     str(out / "audit.jsonl"))
    assert export.returncode == 0, export.stderr[-4000:]
    return prefix, out / "audit.jsonl"


def entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs))
    return path


def stage_at(docs: list[dict[str, Any]], stage: str, order_prefix: str) -> int:
    for i, d in enumerate(docs):
        body = json.loads(d["payload"]["body"])
        if body["stage"] == stage and (body.get("order_id") or "").startswith(order_prefix):
            return i
    raise AssertionError(stage)


def test_the_seed_day_log_verifies_from_kafka_and_from_its_export(
        kafka_bootstrap: str, seed_day: tuple[str, Path]) -> None:
    prefix, export = seed_day

    live = degflex(kafka_bootstrap, "audit", "verify", "--prefix", prefix)
    offline = degflex(kafka_bootstrap, "audit", "verify", "--file", str(export))

    for run in (live, offline):
        assert run.returncode == 0, run.stderr
        assert "OK: 15 entries, 2 settlements recomputed, 2 closures matched" in run.stdout
    head = json.loads(export.read_text().splitlines()[-1])["payload"]["hash"]
    assert head in live.stdout
    pinned = degflex(kafka_bootstrap, "audit", "verify", "--prefix", prefix, "--head", head)
    assert pinned.returncode == 0, pinned.stderr


async def _produce(bootstrap: str, topic: str, docs: list[dict[str, Any]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await p.start()
    try:
        for d in docs:
            await p.send_and_wait(topic, json.dumps(d, separators=(",", ":")).encode())
    finally:
        await p.stop()


async def test_a_tampered_copy_on_a_new_topic_fails_naming_the_entry(
        kafka_bootstrap: str, seed_day: tuple[str, Path], unique_topic: Any) -> None:
    _, export = seed_day
    docs = entries(export)
    i = stage_at(docs, "settled", "order-cambridge-east")
    body = json.loads(docs[i]["payload"]["body"])
    row = next(r for r in body["inputs"]["readings"] if r["start"] == "2025-11-17T14:00:00Z")
    row["import_kwh"] -= 1.0  # one kWh less imported at 14:00, hashes left as they were
    row["load_kwh"] -= 1.0
    docs[i]["payload"]["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    topic = await unique_topic("audit-tampered")
    await _produce(kafka_bootstrap, topic, docs)

    run = await asyncio.to_thread(degflex, kafka_bootstrap, "audit", "verify", "--topic", topic)

    assert run.returncode == 1
    assert f"entry at position {i} (seq {i}): hash is not SHA-256(prev_hash + body)" in run.stderr


def test_deleted_reordered_and_rehashed_copies_fail(
        kafka_bootstrap: str, seed_day: tuple[str, Path], tmp_path: Path) -> None:
    _, export = seed_day
    docs = entries(export)
    settled = stage_at(docs, "settled", "order-manchester")
    # A forger who re-links the chain after lowering Manchester's recorded cost by a penny.
    forged = [dict(d, payload=dict(d["payload"])) for d in docs]
    prev = forged[settled - 1]["payload"]["hash"]
    for d in forged[settled:]:
        body = json.loads(d["payload"]["body"])
        if body["seq"] == settled:
            body["inputs"]["recorded_site"]["cost_gbp"] -= 0.01
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        d["payload"].update(prev_hash=prev, body=text,
                            hash=hashlib.sha256((prev + text).encode()).hexdigest())
        prev = d["payload"]["hash"]
    cases = {
        "deleted": (docs[:3] + docs[4:], "entry at position 3 (seq 4): expected seq 3"),
        "reordered": (docs[:5] + [docs[6], docs[5]] + docs[7:],
                      "entry at position 5 (seq 6): expected seq 5"),
        "rehashed": (forged, (f"entry at position {settled} (seq {settled}, settled, order "
                             "order-manchester-20251117): settlement does not recompute: "
                             "site.cost_gbp recorded")),
    }
    for name, (tampered, expected) in cases.items():
        run = degflex(kafka_bootstrap, "audit", "verify", "--file",
                      str(write(tmp_path / f"{name}.jsonl", tampered)))
        assert run.returncode == 1, name
        assert expected in run.stderr, (name, run.stderr)


async def _caught_up(bootstrap: str, prefix: str, group: str) -> bool:
    tps = [TopicPartition(prefix + t.name, p) for t in consumed_by("audit")
           for p in range(t.partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        ends = await probe.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group)
        done = {tp: c.offset for tp, c in committed.items() if c is not None and c.offset >= 0}
        return all(done.get(tp, 0) >= ends[tp] for tp in tps)
    finally:
        await probe.stop()
        await admin.close()


def test_a_restarted_writer_rereading_every_input_adds_nothing(
        kafka_bootstrap: str, seed_day: tuple[str, Path]) -> None:
    prefix, export = seed_day
    group = f"{prefix}audit-again"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEGFLEX_")}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DEGFLEX_TOPIC_PREFIX": prefix,
            "DEGFLEX_GROUP_ID": group, "DEGFLEX_CARBON_PRICE_GBP_PER_TONNE": "0",
            "DEGFLEX_METER_RESOLUTION_S": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "services.audit"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not asyncio.run(_caught_up(kafka_bootstrap, prefix, group)):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the restarted audit service did not catch up"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode in (0, -signal.SIGTERM)

    after = asyncio.run(read_log(kafka_bootstrap, prefix + AUDIT_LOG.name))
    assert [json.loads(r) for r in after] == entries(export)
