"""`degflex report`: read the settlement statements topic from Kafka and write each settled
day's reports (services/settlement/report.py) under --out/<day>/."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.events import SettlementStatementIssued, SiteDaySettled
from contracts.topics import STATEMENTS
from services.common.codec import DecodeError, decode
from services.common.localkafka import bootstrap_servers_from_env
from services.settlement.report import ReportError, SettledDay, write_day

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"


def _say(msg: str) -> None:
    print(f"[degflex report] {msg}", file=sys.stderr, flush=True)


def settled_days(raws: Iterable[bytes | None]) -> tuple[list[SettledDay], list[str]]:
    """Decode the topic's records (in topic order) into settled days, the latest statement of
    each day with its site records; and a note for each record that could not be used."""
    seen: set[str] = set()
    statements: dict[tuple[object, object], SettlementStatementIssued] = {}
    sites: list[SiteDaySettled] = []
    notes: list[str] = []
    for i, raw in enumerate(raws):
        try:
            d = decode(raw)
        except DecodeError as exc:
            notes.append(f"record {i}: {exc}")
            continue
        if d.message_id in seen:
            continue
        seen.add(d.message_id)
        payload = getattr(d.value, "payload", None)
        if isinstance(payload, SettlementStatementIssued):
            statements[(payload.day_start, payload.day_end)] = payload
        elif isinstance(payload, SiteDaySettled):
            sites.append(payload)
        else:
            notes.append(f"record {i}: unexpected {d.kind}")
    days = []
    for key in sorted(statements, key=str):
        try:
            days.append(SettledDay.of(statements[key], sites))
        except ReportError as exc:
            notes.append(str(exc))
    return days, notes


def write_reports(raws: Iterable[bytes | None], out: Path) -> list[Path]:
    """Every settled day on the records, written under out/<day>/; the HTML pages' paths."""
    days, notes = settled_days(raws)
    for n in notes:
        _say(f"skipped: {n}")
    return [write_day(d, out)[0].parent / "report.html" for d in days]


async def read_topic(bootstrap: str, topic: str, timeout_s: float) -> list[bytes | None]:
    """Every record on `topic` up to its end offsets now, partition by partition."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=int(timeout_s * 1000))
    await c.start()
    try:
        # the client's own cluster view is not refreshed by topics(); read a fresh one
        cluster = await asyncio.wait_for(c._client.fetch_all_metadata(), timeout_s)
        parts = cluster.partitions_for_topic(topic)
        if not parts:
            raise RuntimeError(f"topic {topic} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        ends = await c.end_offsets(tps)
        await c.seek_to_beginning(*tps)
        out: dict[int, list[bytes | None]] = {tp.partition: [] for tp in tps}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while [tp for tp in tps if await c.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s:g} s")
            batch = await c.getmany(timeout_ms=200)
            for tp, recs in batch.items():
                out[tp.partition].extend(r.value for r in recs if r.offset < ends[tp])
        return [v for p in sorted(out) for v in out[p]]
    finally:
        await c.stop()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", default=None,
                   help=f"Kafka brokers host:port[,...] (default $KAFKA_BOOTSTRAP_SERVERS, "
                        f"else {DEFAULT_BOOTSTRAP})")
    p.add_argument("--prefix", default=os.environ.get("DEGFLEX_TOPIC_PREFIX", ""),
                   help="topic prefix the services ran under (default $DEGFLEX_TOPIC_PREFIX)")
    p.add_argument("--out", default="out/report", help="folder; each day goes in <out>/<day>/")
    p.add_argument("--day", default=None, help="only this day (YYYY-MM-DD)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic")


def main(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or bootstrap_servers_from_env() or DEFAULT_BOOTSTRAP
    topic = args.prefix + STATEMENTS.name
    raws = asyncio.run(read_topic(bootstrap, topic, args.timeout))
    days, notes = settled_days(raws)
    for n in notes:
        _say(f"skipped: {n}")
    if args.day:
        days = [d for d in days if d.day == args.day]
    if not days:
        _say(f"no settled day on {topic}" + (f" for {args.day}" if args.day else ""))
        return 1
    for d in days:
        files = write_day(d, Path(args.out))
        _say(f"{d.day}: wrote {len(files)} files under {files[0].parent}")
        print(files[0].parent / "report.html")
    return 0
