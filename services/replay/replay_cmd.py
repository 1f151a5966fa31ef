"""`degflex replay`: drive a scenario day through services that are already running, then print
the demo's summary (the replay half of `degflex demo`, which starts no processes here)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from contracts.scenario import load_scenario
from contracts.topics import COMMANDS, SERVICES, dead_letter_topic
from services.replay.domain import summarise, table
from services.replay.driver import BECKN_TOPICS, latency_ms, read_topics, replay_day, wait_statement

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "seed-cambridge-manchester.yaml"
ENV = ("KAFKA_BOOTSTRAP_SERVERS", "DEGFLEX_TOPIC_PREFIX", "DEGFLEX_SCENARIO",
       "DEGFLEX_REPLAY_SPEED")
"""The variables read for the defaults (compose and the Kubernetes Job set them)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--bootstrap", default=env(ENV[0]) or DEFAULT_BOOTSTRAP,
                   help=f"Kafka bootstrap servers (default: ${ENV[0]} or {DEFAULT_BOOTSTRAP})")
    p.add_argument("--prefix", default=env(ENV[1], ""),
                   help=f"topic prefix the services use (default: ${ENV[1]} or none)")
    p.add_argument("--scenario", default=env(ENV[2]) or str(DEFAULT_SCENARIO),
                   help=f"scenario file (default: ${ENV[2]} or the seed day)")
    p.add_argument("--speed", type=float, default=env(ENV[3]) or "0",
                   help="event seconds per wall second; 0 = as fast as the services settle "
                        f"(default: ${ENV[3]} or 0)")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds to wait for the settlement statement after the last tick")
    p.add_argument("--summary", default="", help="also write summary.json to this file")


def main(args: argparse.Namespace) -> int:
    sc = load_scenario(Path(args.scenario))
    boot, pre = args.bootstrap, args.prefix

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    say(f"replaying {sc.name} ({sc.day}) through {boot} prefix {pre!r} at "
        + ("full speed" if args.speed <= 0 else f"{args.speed:g}x"))
    asyncio.run(replay_day(sc, boot, pre, args.speed, say))
    statement = asyncio.run(wait_statement(boot, pre, args.timeout))
    beckn = asyncio.run(read_topics(boot, [pre + t for t in BECKN_TOPICS]))
    cmds = asyncio.run(read_topics(boot, [pre + COMMANDS.name]))
    dlq = asyncio.run(read_topics(boot, [pre + dead_letter_topic(s) for s in SERVICES]))
    summary = summarise(sc, statement, latency_ms(beckn + cmds, pre), len(beckn), len(dlq))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")
    print(table(summary), flush=True)
    if dlq:
        say(f"warning: {len(dlq)} records were dead-lettered (dlq.<service> topics)")
    return 0
