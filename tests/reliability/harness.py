"""The seed day through the six real service processes, with hooks to hurt it, and what it left
on the topics (statement, summary, Beckn confirms, site commands, dead letters)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.scenario import Scenario, load_scenario
from contracts.topics import COMMANDS, SERVICES, dead_letter_topic
from services.replay.domain import summarise
from services.replay.driver import (
    BECKN_TOPICS,
    Barrier,
    ServiceProcs,
    create_topics,
    read_topics,
    replay_day,
    wait_statement,
)

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "seed-cambridge-manchester.yaml"
RESULTS = REPO / "out" / "reliability"
"""Each reliability test writes its figures here; scripts/reliability_report.py renders them."""

Hook = Callable[[ServiceProcs, int], Awaitable[None]]


@dataclass
class Day:
    summary: dict[str, Any]
    statement: dict[str, Any]
    confirms: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    dead_letters: int
    dead_letter_reasons: dict[str, int]

    def figures(self) -> dict[str, Any]:
        """What must not change under crashes, restarts and duplicates."""
        return {"summary": self.summary, "statement": self.statement}


def scenario() -> Scenario:
    return load_scenario(SCENARIO)


async def run_day(bootstrap: str, work: Path, after_tick: Hook | None = None,
                  prefix: str | None = None,
                  before_read: Callable[[], Awaitable[None]] | None = None) -> Day:
    """`before_read` runs once the statement is out, then the day's end is awaited again."""
    sc = scenario()
    prefix = prefix or f"rel.{uuid.uuid4().hex[:8]}."
    await create_topics(bootstrap, prefix)
    procs = ServiceProcs()
    try:
        procs.start(bootstrap, prefix, sc, SCENARIO, work / "logs")
        procs.wait_ready(90, work / "logs")

        async def hook(i: int) -> None:
            if after_tick is not None:
                await after_tick(procs, i)

        await replay_day(sc, bootstrap, prefix, 0, lambda _: None, hook)
        statement = await wait_statement(bootstrap, prefix, 60)
        if before_read is not None:
            await before_read()
            barrier = Barrier(bootstrap, prefix)
            await barrier.start()
            try:
                await barrier.wait()
            finally:
                await barrier.close()
        beckn = real(await read_topics(bootstrap, [prefix + t for t in BECKN_TOPICS]))
        cmds = real(await read_topics(bootstrap, [prefix + COMMANDS.name]))
        dlq = await read_topics(bootstrap, [prefix + dead_letter_topic(s) for s in SERVICES])
    finally:
        codes = procs.stop()
    assert all(c in (0, -15) for c in codes.values()), codes
    summary = summarise(sc, statement, None, len(beckn), len(dlq))
    docs = [json.loads(r.value) for r in beckn]
    return Day(summary=summary, statement=statement.model_dump(mode="json"),
               confirms=[d for d in docs if d["context"]["action"] == "confirm"],
               commands=[json.loads(r.value) for r in cmds], dead_letters=len(dlq),
               dead_letter_reasons=dict(Counter(
                   f"{r.topic.removeprefix(prefix)}: "
                   f"{dict(r.headers).get('dlq.reason', b'?').decode()} "
                   f"{dict(r.headers).get('dlq.error', b'').decode()[:120]}" for r in dlq)))


INJECTED = ("reliability.hostile", b"1")
"""Header on the bad records tests/reliability/test_hostile.py sends (not the day's traffic)."""


def real(records: list[Any]) -> list[Any]:
    return [r for r in records if INJECTED not in r.headers]


def beckn_content(doc: dict[str, Any]) -> str:
    """A Beckn message without the fields a re-send may renew (ids and times)."""
    ctx = {k: v for k, v in doc["context"].items() if k not in ("message_id", "timestamp")}
    return json.dumps({"context": ctx, "message": doc["message"]}, sort_keys=True)


def command_content(doc: dict[str, Any]) -> str:
    return json.dumps(doc["payload"], sort_keys=True)


def duplicates(docs: list[dict[str, Any]], ident: Callable[[dict[str, Any]], str],
               content: Callable[[dict[str, Any]], str]) -> dict[str, int]:
    """Records that are the same message twice (by id) or the same content under two ids."""
    by_id = Counter(ident(d) for d in docs)
    ids_by_content: dict[str, set[str]] = {}
    for d in docs:
        ids_by_content.setdefault(content(d), set()).add(ident(d))
    return {"same_id": sum(n - 1 for n in by_id.values()),
            "same_content_new_id": sum(len(s) - 1 for s in ids_by_content.values())}


def distinct(docs: list[dict[str, Any]], content: Callable[[dict[str, Any]], str]) -> set[str]:
    return {content(d) for d in docs}


def doubling(day: Day) -> dict[str, int]:
    """Confirms and commands seen more than once: under the same id (at-least-once delivery,
    which consumers dedupe) or with the same content under a new id (a doubled order)."""
    conf = duplicates(day.confirms, lambda d: d["context"]["message_id"], beckn_content)
    cmds = duplicates(day.commands, lambda d: d["id"], command_content)
    return {"redelivered_same_id": conf["same_id"] + cmds["same_id"],
            "doubled_new_id": conf["same_content_new_id"] + cmds["same_content_new_id"]}


def outcome(day: Day, reference: Day, seconds: float) -> dict[str, Any]:
    """The figures every hurt run writes next to its own (scripts/reliability_report.py)."""
    return {"confirms": len(distinct(day.confirms, beckn_content)),
            "commands": len(distinct(day.commands, command_content)),
            **doubling(day), "dead_letters": day.dead_letters,
            "dead_letter_reasons": day.dead_letter_reasons, "seconds": round(seconds, 1),
            **compare(day, reference)}


def write_result(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path


MONEY = ("baseline_cost_gbp", "actual_cost_gbp", "flex_payment_gbp", "utilisation_payment_gbp",
         "availability_payment_gbp", "battery_recharge_cost_gbp")
ENERGY = ("baseline_energy_kwh", "actual_energy_kwh", "verified_kwh", "battery_losses_kwh")


def compare(day: Day, reference: Day) -> dict[str, Any]:
    """Differences from the reference day: money and energy, orders and commands missing."""
    a, b = day.statement, reference.statement
    return {
        "settlement_difference_gbp": round(sum(abs(a[k] - b[k]) for k in MONEY), 9),
        "settlement_difference_kwh": round(sum(abs(a[k] - b[k]) for k in ENERGY), 9),
        "statement_identical": a == b,
        "summary_identical": day.summary == reference.summary,
        "records_lost": len(distinct(reference.confirms, beckn_content)
                            - distinct(day.confirms, beckn_content))
        + len(distinct(reference.commands, command_content)
              - distinct(day.commands, command_content)),
    }
