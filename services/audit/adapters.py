"""Reading the audit log topic back (at start-up, and for `degflex audit`), and the rule files
whose digests the configuration records."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import Envelope
from contracts.events import AuditEntryAppended
from services.common.codec import DecodeError, decode

REPO = Path(__file__).resolve().parents[2]
RULES = ("rules/settlement.py", "rules/settlement_inputs.py",
         "services/metering_validator/domain.py")


def rules_digests(root: Path = REPO) -> dict[str, str]:
    """SHA-256 of each rule module settlement and verification run (missing ones: "absent")."""
    out = {}
    for rel in RULES:
        p = root / rel
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent"
    return out


class NotAnEntry(ValueError):
    """A record on the log topic that is not an `audit.entry.appended` envelope."""

    def __init__(self, position: int, detail: str) -> None:
        super().__init__(f"entry at position {position}: not an audit entry: {detail}")
        self.position = position


def entry_of(position: int, raw: bytes | None) -> AuditEntryAppended:
    try:
        d = decode(raw)
    except DecodeError as exc:
        raise NotAnEntry(position, str(exc)) from exc
    if not (isinstance(d.value, Envelope) and isinstance(d.value.payload, AuditEntryAppended)):
        raise NotAnEntry(position, d.kind)
    return d.value.payload


async def read_log(bootstrap: str, topic: str, timeout_s: float = 120) -> list[bytes]:
    """Every record value on the (one-partition) log topic, in offset order."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", client_id="audit-log-reader")
    try:
        await c.start()
        cluster = await c._client.fetch_all_metadata()  # the topic may be new
        parts = cluster.partitions_for_topic(topic)
        if parts is None:
            raise RuntimeError(f"topic {topic} does not exist")
        if len(parts) != 1:
            raise RuntimeError(f"topic {topic} has {len(parts)} partitions; the log has one")
        tp = TopicPartition(topic, next(iter(parts)))
        c.assign([tp])
        end = (await c.end_offsets([tp]))[tp]
        await c.seek_to_beginning(tp)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while await c.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not finish in {timeout_s:.0f} s")
            batch = await c.getmany(tp, timeout_ms=500)
            out.extend(batch.get(tp, []))
        return [r.value for r in sorted(out, key=lambda r: r.offset) if r.offset < end]
    finally:
        await c.stop()
