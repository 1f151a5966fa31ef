"""`degflex audit verify|export`: check the audit log (from Kafka or an export), or export it."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from contracts.topics import AUDIT_LOG
from services.audit.adapters import read_log
from services.audit.verify import verify_log


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="audit_cmd", required=True)
    v = sub.add_parser("verify", help="recompute the chain and every settlement; exit 1 on "
                       "any tampering, naming the first bad entry")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--file", type=Path, help="a JSONL export (one record value a line) "
                     "instead of the Kafka topic")
    src.add_argument("--topic", help=f"the log topic (default: <prefix>{AUDIT_LOG.name})")
    v.add_argument("--head", help="the hash the last entry must have (noted elsewhere)")
    e = sub.add_parser("export", help="write the log topic as JSONL, one record a line")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--topic", help=f"the log topic (default: <prefix>{AUDIT_LOG.name})")
    for q in (v, e):
        q.add_argument("--prefix", default=os.environ.get("DEGFLEX_TOPIC_PREFIX", ""),
                       help="topic prefix (default: $DEGFLEX_TOPIC_PREFIX)")
        q.add_argument("--bootstrap", default=os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
            help="Kafka brokers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092)")


def _records(args: argparse.Namespace) -> list[bytes]:
    if getattr(args, "file", None):
        return [line for line in args.file.read_bytes().splitlines() if line.strip()]
    topic = args.topic or args.prefix + AUDIT_LOG.name
    return asyncio.run(read_log(args.bootstrap, topic))


def main(args: argparse.Namespace) -> int:
    records = _records(args)
    if args.audit_cmd == "export":
        with open(args.out, "wb") as f:
            f.writelines(r + b"\n" for r in records)
        print(f"audit: exported {len(records)} entries to {args.out}")
        return 0
    report = verify_log(records, args.head)
    if not report.ok:
        print(f"audit: FAILED after {report.entries} good entries: {report.problem}",
              file=sys.stderr)
        return 1
    print(f"audit: OK: {report.entries} entries, {report.settled} settlements recomputed, "
          f"{report.closed} closures matched; head seq {report.head.seq - 1} "
          f"hash {report.head.hash}")
    return 0
