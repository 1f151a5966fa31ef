"""kill -9 every service at seeded random points of the seed day, restart it: the statement and
summary equal an uninterrupted run's, and no order or command is doubled."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from contracts.topics import SERVICES
from services.replay.domain import tick_times
from services.replay.driver import ServiceProcs
from tests.reliability.harness import (
    Day,
    beckn_content,
    command_content,
    distinct,
    outcome,
    run_day,
    scenario,
    write_result,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.reliability]

SEEDS = (7, 1031, 52_711)


def crash_plan(seed: int, ticks: int) -> dict[int, list[tuple[str, float]]]:
    """Each service once per run at its own tick, killed 0-60 ms after the tick is sent (while
    the tick's work is in flight), reproducible from the seed."""
    rng = random.Random(seed)
    at = rng.sample(range(ticks), len(SERVICES))
    plan: dict[int, list[tuple[str, float]]] = {}
    for name, i in zip(SERVICES, at, strict=True):
        plan.setdefault(i, []).append((name, rng.uniform(0, 0.06)))
    return plan


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_and_restart_changes_nothing(kafka_bootstrap: str, tmp_path: Path,
                                            reference: Day, seed: int) -> None:
    plan = crash_plan(seed, len(tick_times(scenario())))
    crashed: list[dict[str, object]] = []

    async def hurt(procs: ServiceProcs, i: int) -> None:
        for name, delay in plan.get(i, []):
            await asyncio.sleep(delay)
            procs.crash(name)
            crashed.append({"service": name, "tick": i, "after_ms": round(delay * 1000, 1)})
            procs.restart(name)

    t0 = time.monotonic()
    day = asyncio.run(run_day(kafka_bootstrap, tmp_path, hurt))
    assert sorted(c["service"] for c in crashed) == sorted(SERVICES)

    figures = outcome(day, reference, time.monotonic() - t0)
    write_result(f"crash-seed-{seed}", {
        "test": "crash", "seed": seed, "crashes": crashed, "restarts": len(crashed), **figures})

    assert day.figures() == reference.figures()
    assert day.dead_letters == 0
    # no order and no command twice under a new id; the same ones as the uninterrupted day
    assert figures["doubled_new_id"] == 0
    assert distinct(day.confirms, beckn_content) == distinct(reference.confirms, beckn_content)
    assert distinct(day.commands, command_content) == distinct(reference.commands,
                                                               command_content)
    assert ({d["context"]["message_id"] for d in day.confirms}
            == {d["context"]["message_id"] for d in reference.confirms})
