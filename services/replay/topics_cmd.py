"""`degflex topics create`: every catalogue topic and dlq.<service> on a broker (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import os

from services.replay.driver import create_topics

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
ENV = ("KAFKA_BOOTSTRAP_SERVERS", "DEGFLEX_TOPIC_PREFIX")
"""The variables read for the defaults (compose and the Kubernetes Job set them)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["create"],
                   help="create: every topic of the catalogue (its partitions) and "
                        "dlq.<service> (optional services included), replication 1; existing topics are left alone")
    p.add_argument("--bootstrap", default=os.environ.get(ENV[0]) or DEFAULT_BOOTSTRAP,
                   help=f"Kafka bootstrap servers (default: ${ENV[0]} or {DEFAULT_BOOTSTRAP})")
    p.add_argument("--prefix", default=os.environ.get(ENV[1], ""),
                   help=f"topic name prefix (default: ${ENV[1]} or none)")


def main(args: argparse.Namespace) -> int:
    created = asyncio.run(create_topics(args.bootstrap, args.prefix))
    print(f"topics ready: {created} created under prefix {args.prefix!r} on {args.bootstrap}",
          flush=True)
    return 0
