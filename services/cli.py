"""`degflex`: run the seed day end to end (demo) and manage the local broker."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

from contracts.scenario import load_scenario
from contracts.topics import COMMANDS, SERVICES, STATEMENTS, dead_letter_topic
from services.audit.cli import add_arguments as audit_arguments
from services.audit.cli import main as audit_main
from services.common.keys import add_arguments as keys_arguments
from services.common.keys import main as keys_main
from services.common.localkafka import LocalBroker, bootstrap_servers_from_env
from services.evaluate.run import add_arguments as evaluate_arguments
from services.evaluate.run import main as evaluate_main
from services.replay import replay_cmd, topics_cmd
from services.replay.domain import summarise, table
from services.replay.driver import (
    BECKN_TOPICS,
    ServiceProcs,
    create_topics,
    delete_topics,
    latency_ms,
    read_topics,
    replay_day,
    wait_statement,
)
from services.settlement import report_cli

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = REPO / "scenarios" / "seed-cambridge-manchester.yaml"


def _say(msg: str) -> None:
    print(f"[degflex] {msg}", file=sys.stderr, flush=True)


def demo(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    sc = load_scenario(Path(args.scenario))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    external = bootstrap_servers_from_env()
    broker = None
    if external:
        bootstrap = external
        _say(f"using external Kafka at {bootstrap}")
    else:
        broker = LocalBroker()
        if broker.status():
            bootstrap = broker.start()
            broker = None  # started by someone else: leave it running
            _say(f"using the running local Kafka at {bootstrap}")
        else:
            _say("starting local Kafka (KRaft) ...")
            bootstrap = broker.start()
            _say(f"local Kafka ready at {bootstrap}")
    run = args.prefix or f"demo.{uuid.uuid4().hex[:8]}."
    procs = ServiceProcs()
    try:
        if not args.prefix and not external:
            gone = asyncio.run(delete_topics(bootstrap, "demo."))
            if gone:
                _say(f"deleted {gone} topics of earlier demo runs")
        asyncio.run(create_topics(bootstrap, run))
        _say(f"topics created under prefix {run!r}; starting {len(SERVICES)} services ...")
        procs.start(bootstrap, run, sc, Path(args.scenario).resolve(), out / "logs")
        procs.wait_ready(90, out / "logs")
        _say(f"services ready: {', '.join(f'{n}:{p}' for n, p in procs.ports.items())}")
        speed = "as fast as the services settle" if args.speed <= 0 else f"{args.speed:g}x"
        _say(f"replaying {sc.name} ({sc.day}) at {speed}")
        asyncio.run(replay_day(sc, bootstrap, run, args.speed, _say))
        statement = asyncio.run(wait_statement(bootstrap, run, 60))
        beckn = asyncio.run(read_topics(bootstrap, [run + t for t in BECKN_TOPICS]))
        with open(out / "beckn-messages.jsonl", "wb") as f:
            for r in beckn:
                f.write(r.value + b"\n")
        with open(out / "beckn-signatures.jsonl", "w", encoding="ascii") as f:  # same order
            for r in beckn:
                auth = dict(r.headers).get("Authorization", b"").decode("ascii", "replace")
                f.write(json.dumps({"authorization": auth}) + "\n")
        cmds = asyncio.run(read_topics(bootstrap, [run + COMMANDS.name]))
        dlq = asyncio.run(read_topics(bootstrap, [run + dead_letter_topic(s) for s in SERVICES]))
        summary = summarise(sc, statement, latency_ms(beckn + cmds, run), len(beckn), len(dlq))
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        settled = asyncio.run(read_topics(bootstrap, [run + STATEMENTS.name]))
        pages = report_cli.write_reports([r.value for r in settled], out / "report")
        if args.linger > 0:
            _say(f"services stay up {args.linger:g} s for scraping: "
                 f"{', '.join(f'{n}:{p}' for n, p in procs.ports.items())}")
            time.sleep(args.linger)
    finally:
        codes = procs.stop()
        if broker is not None and not args.keep_broker:
            broker.stop()
    bad = {n: c for n, c in codes.items() if c not in (0, -15)}
    print(table(summary))
    _say(f"wrote {out / 'summary.json'} and {out / 'beckn-messages.jsonl'} "
         f"({len(beckn)} Beckn messages), report {', '.join(map(str, pages))} "
         f"in {time.monotonic() - t0:.1f} s")
    if dlq:
        _say(f"warning: {len(dlq)} records were dead-lettered; see {out / 'logs'}")
    if bad:
        _say(f"services exited abnormally: {bad}")
        return 1
    return 0


def broker_cmd(args: argparse.Namespace) -> int:
    b = LocalBroker()
    if args.action == "start":
        print(b.start())
    elif args.action == "stop":
        b.stop()
    else:
        up = b.status()
        print("running" if up else "stopped")
        return 0 if up else 3
    return 0


def evaluate(args: argparse.Namespace) -> int:
    return evaluate_main(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="degflex", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="replay a scenario day through Kafka and the seven services")
    d.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    d.add_argument("--out", default="out/demo")
    d.add_argument("--speed", type=float, default=0.0,
                   help="event seconds per wall second (e.g. 3600: an hour a second); "
                        "0 = as fast as the services settle (default)")
    d.add_argument("--prefix", default="", help="topic prefix (default: a fresh demo.<id>.)")
    d.add_argument("--keep-broker", action="store_true", help="leave the local broker running")
    d.add_argument("--linger", type=float, default=0.0,
                   help="keep the services (and their /metrics) up this many seconds after "
                        "the day is settled, for Prometheus/Grafana")
    d.set_defaults(func=demo)
    b = sub.add_parser("broker", help="the local single-node Kafka")
    b.add_argument("action", choices=["start", "stop", "status"])
    b.set_defaults(func=broker_cmd)
    e = sub.add_parser("evaluate", help="compare placement policies on the June 2023 traces")
    evaluate_arguments(e)
    e.set_defaults(func=evaluate)
    t = sub.add_parser("topics", help="create the catalogue's topics on a broker")
    topics_cmd.add_arguments(t)
    t.set_defaults(func=topics_cmd.main)
    r = sub.add_parser("replay", help="replay a scenario day through running services")
    replay_cmd.add_arguments(r)
    r.set_defaults(func=replay_cmd.main)
    rep = sub.add_parser("report", help="settlement reports (JSON, CSV, HTML) read from Kafka")
    report_cli.add_arguments(rep)
    rep.set_defaults(func=report_cli.main)
    k = sub.add_parser("keys", help="Beckn signing keys and registry entries")
    keys_arguments(k)
    k.set_defaults(func=keys_main)
    a = sub.add_parser("audit", help="verify or export the hash-chained audit log")
    audit_arguments(a)
    a.set_defaults(func=audit_main)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, RuntimeError, TimeoutError) as exc:
        _say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
