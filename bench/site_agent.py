"""Site agent: command published -> operation applied by the actuator, through real Kafka.

    python bench/site_agent.py [--commands 1000] [--slurm-commands 200] [--no-write]

Starts a local broker on free ports unless KAFKA_BOOTSTRAP_SERVERS is set. For each actuator
(the in-memory simulator; Slurm through the fake `scontrol`/`squeue` of tests/fake_slurm.py,
so each operation costs two process spawns), publishes pause commands one at a time (each for
its own job, 5 ms apart) and measures, per command, from the record's create time to the moment
the actuator was handed its operation and returned. Prints a table and writes it into
docs/benchmarks.md (section "Site agent") unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import load_1m, machine, pct, write_section  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402

from contracts.events import CommandAction, SiteCommandIssued  # noqa: E402
from contracts.topics import COMMANDS  # noqa: E402
from services.common.codec import encode, envelope  # noqa: E402
from services.common.localkafka import start_unless_env  # noqa: E402
from services.replay.driver import create_topics  # noqa: E402
from services.site_agent.actuation import ActuationResult, Actuator, Operation  # noqa: E402
from services.site_agent.bootstrap import bootstrap  # noqa: E402
from services.site_agent.settings import SiteAgentSettings  # noqa: E402
from services.site_agent.simulated import SimulatedSite  # noqa: E402
from services.site_agent.slurm import SlurmActuator  # noqa: E402
from tests.fake_slurm import install  # noqa: E402

DAY = datetime(2025, 11, 17, tzinfo=UTC)
SITE = "cambridge-east"


@dataclass
class Timed:
    """Wraps an actuator; records when each command's operation came back (wall ms)."""

    inner: Actuator
    done_ms: dict[str, float] = field(default_factory=dict)
    apply_s: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def describe(self, op: Operation) -> tuple[str, ...]:
        return self.inner.describe(op)

    def apply(self, op: Operation) -> ActuationResult:
        t0 = time.perf_counter()
        r = self.inner.apply(op)
        self.apply_s.append(time.perf_counter() - t0)
        now = time.time() * 1000
        for cid in op.command_ids:
            self.done_ms[cid] = now
        return r


async def run(bs: str, label: str, act: Timed, n: int) -> dict[str, float | int | str]:
    prefix = f"bench.agent.{uuid.uuid4().hex[:6]}."
    await create_topics(bs, prefix)
    runner = bootstrap(SiteAgentSettings(bootstrap_servers=bs, topic_prefix=prefix,
                                         site_ids=SITE), act=act)
    task = asyncio.create_task(runner.run())
    while not runner.ready:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    p = AIOKafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=0)
    await p.start()
    sent: dict[str, float] = {}
    try:
        for i in range(n):
            c = SiteCommandIssued(
                command_id=f"c-{i}", site_id=SITE, action=CommandAction.PAUSE_JOB, power_kw=10,
                start=DAY + timedelta(hours=14), end=DAY + timedelta(hours=16),
                job_id=f"job-{i}", part_id="p", event_id="bench", reason="bench")
            meta = await p.send_and_wait(prefix + COMMANDS.name, encode(envelope(
                c, id=c.command_id, time=c.start, source="bench")), key=SITE.encode())
            sent[c.command_id] = float(meta.timestamp)
            await asyncio.sleep(0.005)
        deadline = time.monotonic() + 120
        while len(act.done_ms) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await p.stop()
        runner.stop()
        await task
    lat = [act.done_ms[c] - sent[c] for c in sent if c in act.done_ms]
    return {"actuator": label, "n": len(lat), "p50": pct(lat, 50), "p99": pct(lat, 99),
            "max": max(lat), "apply_ms": statistics.median(act.apply_s) * 1000,
            "missing": n - len(lat)}


def table(rows: list[dict[str, float | int | str]]) -> str:
    out = ["| actuator | commands | p50 ms | p99 ms | max ms | actuator alone, median ms |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['actuator']} | {r['n']:,} | {r['p50']:.1f} | {r['p99']:.1f} | "
                   f"{r['max']:.1f} | {r['apply_ms']:.2f} |")
    return "\n".join(out)


async def main(n: int, n_slurm: int, do_write: bool) -> None:
    load = load_1m()
    bs, broker = start_unless_env()
    rows = []
    try:
        rows.append(await run(bs, "simulator (in memory)", Timed(SimulatedSite()), n))
        tmp = Path(tempfile.mkdtemp())
        install(tmp / "bin")
        os.environ["FAKE_SLURM_STATE"] = str(tmp / "jobs.json")
        os.environ["FAKE_SLURM_CALLS"] = str(tmp / "calls.jsonl")
        (tmp / "jobs.json").write_text(json.dumps([
            {"job_id": str(5000 + i), "array_job_id": str(5000 + i), "name": f"job-{i}.p",
             "state": "RUNNING", "reason": "None", "throttle": None} for i in range(n_slurm)]))
        slurm = SlurmActuator(scontrol=str(tmp / "bin" / "scontrol"),
                              squeue=str(tmp / "bin" / "squeue"))
        rows.append(await run(bs, "slurm (fake CLI: 2 process spawns)", Timed(slurm), n_slurm))
    finally:
        if broker is not None:
            broker.stop()
    host = machine()
    body = table(rows)
    print(f"machine: {host}\n{body}")
    if any(r["missing"] for r in rows):
        print("some commands were never applied: " + ", ".join(
            f"{r['actuator']}: {r['missing']}" for r in rows), file=sys.stderr)
    if do_write:
        write_section("Site agent", (
            "## Site agent: command published -> actuator applied\n"
            f"`python bench/site_agent.py --commands {n} --slurm-commands {n_slurm}` on "
            f"{time.strftime('%Y-%m-%d')}, {host}, Kafka single node on loopback, 1-min "
            f"load average {load:.1f} at the start (other work on the machine). Pause "
            "commands one at a time (5 ms apart, each for its own job) through the real "
            "runner; latency from the record's create time to the actuator's return. The "
            "Slurm row runs the fake `scontrol`/`squeue` of tests/fake_slurm.py (a Python "
            "process per call), so it measures process spawning, not a Slurm controller.\n\n"
            f"{body}\n\n"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--slurm-commands", type=int, default=200)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    asyncio.run(main(a.commands, a.slurm_commands, not a.no_write))
