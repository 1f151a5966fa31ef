"""Stop the Kafka broker three times in the seed day (SIGTERM as ordering and the meter
verification begin, kill -9 in the middle of the stress event's fulfilment), keep it down, start
it again on the same ports and data: no service exits, producers retry, consumers resume, and
the day settles exactly as the uninterrupted one."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts.topics import CATALOGUE, CLOCK, JOBS, SITES
from services.common.localkafka import LocalBroker, restartable_port
from services.replay.domain import tick_times
from services.replay.driver import Barrier, ServiceProcs, read_topics
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

DOWN_S = 4.0
"""How long the broker stays down, from its exit to the next start."""
KILL_AFTER_S = 0.01
"""From sending the tick to kill -9: the tick's work is under way."""
DRIVER_TOPICS = {CLOCK.name, JOBS.name, SITES.name}
"""Written by the replay driver, not by a service."""


@dataclass(frozen=True)
class Outage:
    phase: str
    tick: int
    signal: str
    """SIGTERM (a controlled shutdown; the broker serves for a moment after the signal, so the
    signal is sent just before the tick, which then goes out into a stopping broker) or SIGKILL
    (sent KILL_AFTER_S after the tick, while the services work on it)."""


def outages() -> list[Outage]:
    """Ordering (the discovery tick: jobs, then select/init/confirm), fulfilment (the stress
    event's start: shift commands, battery, readings) and meter verification (its end)."""
    sc = scenario()
    ticks = tick_times(sc)
    event = sc.stress_events[0]
    return [Outage("ordering", ticks.index(sc.at(sc.discovery_at)), "SIGTERM"),
            Outage("fulfilment", ticks.index(sc.at(event.from_)), "SIGKILL"),
            Outage("verification", ticks.index(sc.at(event.to)), "SIGTERM")]


async def written_since(bootstrap: str, prefix: str, since_ms: int) -> dict[str, int]:
    """Records the services put on the day's topics stamped at or after `since_ms`, by topic.
    Beckn topics carry the broker's append time; the others the producer's, taken when the
    service made the record."""
    recs = await read_topics(bootstrap, [prefix + t.name for t in CATALOGUE])
    return dict(Counter(t for r in recs if r.timestamp >= since_ms
                        and (t := r.topic.removeprefix(prefix)) not in DRIVER_TOPICS))


class Outages:
    """The after-tick hook: stops and starts the broker as planned and records each outage."""

    def __init__(self, broker: LocalBroker, prefix: str, plan: list[Outage]) -> None:
        self.broker, self.prefix = broker, prefix
        self.at = {o.tick: o for o in plan}
        self.before = {o.tick - 1: o for o in plan if o.signal == "SIGTERM"}
        self.done: list[dict[str, Any]] = []
        self._pending: tuple[Outage, asyncio.Task[dict[str, Any]]] | None = None
        self._pids: dict[str, int] = {}

    async def __call__(self, procs: ServiceProcs, i: int) -> None:
        self._pids = self._pids or {n: p.pid for n, p in procs.procs.items()}
        if i in self.before:  # tick i-1 settled, then the signal; tick i goes out after it
            await self.settle(30)
            self._pending = (self.before[i], asyncio.create_task(self.bounce("SIGTERM")))
            await asyncio.sleep(0.05)  # the signal is sent (first thing the stop does)
        if i in self.at:
            outage = self.at[i]
            if outage.signal == "SIGKILL":
                await asyncio.sleep(KILL_AFTER_S)
                timing = await self.bounce("SIGKILL")
            else:
                assert self._pending is not None and self._pending[0] == outage
                timing = await self._pending[1]
                self._pending = None
            await self.record(procs, outage, timing)

    async def bounce(self, signal: str) -> dict[str, Any]:
        """Stop the broker (SIGTERM: controlled shutdown; SIGKILL: none), keep it down DOWN_S,
        start it on the same ports and data."""
        t0, signal_ms = time.monotonic(), int(time.time() * 1000)
        await asyncio.to_thread(self.broker.kill if signal == "SIGKILL" else self.broker.stop)
        exited = time.monotonic()
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(self.broker.start, 120)
        return {"signal_ms": signal_ms, "stop_seconds": round(exited - t0, 1),
                "down_seconds": round(time.monotonic() - t0, 1), "up": time.monotonic()}

    async def settle(self, timeout_s: float) -> None:
        barrier = Barrier(self.broker.bootstrap_servers, self.prefix)
        await barrier.start()
        try:
            await barrier.wait(timeout_s)
        finally:
            await barrier.close()

    async def record(self, procs: ServiceProcs, outage: Outage, timing: dict[str, Any]) -> None:
        exited = {n: p.returncode for n, p in procs.procs.items() if p.poll() is not None}
        assert not exited, f"services exited over the broker restart: {exited}"
        assert {n: p.pid for n, p in procs.procs.items()} == self._pids  # none restarted
        await self.settle(90)
        self.done.append({
            "phase": outage.phase, "tick": outage.tick, "signal": outage.signal,
            "stop_seconds": timing["stop_seconds"], "down_seconds": timing["down_seconds"],
            "settled_seconds_after_start": round(time.monotonic() - timing["up"], 1),
            "written_after_signal": await written_since(
                self.broker.bootstrap_servers, self.prefix, timing["signal_ms"])})


def test_broker_restarts_change_nothing(tmp_path: Path, reference: Day) -> None:
    # ports below the ephemeral range: nothing else is handed them while the broker is down
    port = restartable_port()
    while (controller_port := restartable_port()) == port:
        pass
    broker = LocalBroker(home=tmp_path / "kafka", port=port, controller_port=controller_port)
    bootstrap = broker.start(120)
    plan = outages()
    hook = Outages(broker, "rel.broker.", plan)
    t0 = time.monotonic()
    try:
        day = asyncio.run(run_day(bootstrap, tmp_path, hook, prefix=hook.prefix))
    finally:
        broker.stop()
    figures = outcome(day, reference, time.monotonic() - t0)
    write_result("broker-restart", {
        "test": "broker-restart", "broker_restarts": hook.done, "restarts": 0,
        "downtime_seconds": round(sum(r["down_seconds"] for r in hook.done), 1), **figures})

    assert [(r["phase"], r["signal"]) for r in hook.done] == [(o.phase, o.signal) for o in plan]
    # each outage cut into work: the services wrote records of that tick after the signal
    assert all(r["written_after_signal"] for r in hook.done), hook.done
    assert day.figures() == reference.figures()
    assert day.dead_letters == 0, day.dead_letter_reasons
    assert figures["doubled_new_id"] == 0
    assert distinct(day.confirms, beckn_content) == distinct(reference.confirms, beckn_content)
    assert distinct(day.commands, command_content) == distinct(reference.commands,
                                                               command_content)
    assert ({d["context"]["message_id"] for d in day.confirms}
            == {d["context"]["message_id"] for d in reference.confirms})
