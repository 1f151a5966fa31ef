"""Two load-shifter processes in one consumer group through a real broker: the callbacks'
partitions are split between them, a `kill -9` of one hands its partitions to the other, and
the site commands published are exactly those of a single instance (same message ids, same
content; a record re-sent after the kill carries the id and content of the first).

The fleet: twelve UK-EAST sites, each with its own order (so its stress events land on the
partition of its own transaction), a 300 kW sweep and a battery; Manchester's order has 300 kW
of headroom all afternoon. Each site's event has its own ten minutes, so no two decisions read
each other's commands and every instance must reach the same answer in any order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from contracts.beckn.models import Action, OrderStatus
from contracts.events import CommandAction, SiteCommandIssued
from contracts.topics import BECKN_CALLBACKS, COMMANDS, PLACEMENTS, SITES
from services.common.codec import decode, encode
from services.common.ids import stable_id
from services.replay.driver import create_topics
from tests.e2e.groups import assigned, committed_to_end, spawn, stop, until
from tests.integration.streams import poll_until, produce, read_all
from tests.unit.factories import (
    EAST_14_18,
    MANCHESTER,
    MANCHESTER_TXN,
    at,
    battery,
    beckn,
    env,
    line,
    manchester_order,
    manchester_site,
    order,
    placement,
    site,
    stress_event,
)

pytestmark = pytest.mark.kafka

SITES_N = 12
EXPECTED = 4 * SITES_N  # per event: pause the sweep, start it at Manchester, discharge, recharge


def _east(i: int) -> str:
    return f"east-{i:02d}"


def _txn(i: int) -> str:
    return stable_id("order", f"order-{_east(i)}-20251117")


def _order(i: int) -> Any:
    return order(f"order-{_east(i)}-20251117", [(EAST_14_18, line(
        _east(i), "14:00", "18:00", confirmed_kw=1500))], status=OrderStatus.CONFIRMED)


def _slot(i: int) -> tuple[str, str]:
    m = 14 * 60 + 10 * i
    return f"{m // 60:02d}:{m % 60:02d}", f"{(m + 10) // 60:02d}:{(m + 10) % 60:02d}"


def _stress(i: int) -> bytes:
    s, e = _slot(i)
    ev = stress_event(450, start=s, end=e, event_id=f"stress-{_east(i)}")
    body = _order(i).model_copy(update={"status": OrderStatus.INPROGRESS, "attributes": ev})
    return encode(beckn(Action.ON_UPDATE, _txn(i), body, timestamp=at(s),
                        message_id=stable_id("on_update", _txn(i), ev.event_id)))


async def _inventory(bootstrap: str, prefix: str) -> None:
    await produce(bootstrap, prefix + SITES.name, [encode(env(s)) for s in [
        manchester_site(), *(site(_east(i), "UK-EAST", 1500, battery())
                             for i in range(SITES_N))]])
    places = [placement("batch-b", "main", MANCHESTER, "14:00", "18:00", 1200)]
    for i in range(SITES_N):
        places += [placement(f"job-{i}", "core", _east(i), "14:00", "18:00", 900,
                             critical=True, migratable=False),
                   placement(f"job-{i}", "sweep", _east(i), "14:00", "18:00", 300)]
    for p in places:
        await produce(bootstrap, prefix + PLACEMENTS.name, [encode(env(p))],
                      key=p.site_id.encode())
    confirms = [(MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))]
    confirms += [(_txn(i), _order(i)) for i in range(SITES_N)]
    for txn, o in confirms:
        await produce(bootstrap, prefix + BECKN_CALLBACKS.name,
                      [encode(beckn(Action.ON_CONFIRM, txn, o, timestamp=at("09:00")))],
                      key=txn.encode())










def _commands(recs: list[Any]) -> list[tuple[str, SiteCommandIssued]]:
    out = []
    for r in recs:
        e = decode(r.value).value
        assert isinstance(e.payload, SiteCommandIssued)
        out.append((e.id, e.payload))
    return out




async def _run(bootstrap: str, tmp: Path, instances: int) -> tuple[list[Any], dict[str, Any]]:
    prefix = f"so{instances}.{uuid.uuid4().hex[:8]}."
    await create_topics(bootstrap, prefix)
    await _inventory(bootstrap, prefix)
    callbacks, commands = prefix + BECKN_CALLBACKS.name, prefix + COMMANDS.name
    logs = [tmp / f"{prefix}{n}.log" for n in range(instances)]
    procs = [spawn("services.load_shifter", bootstrap, prefix, lg) for lg in logs]
    seen: dict[str, Any] = {}
    try:
        # each instance owns some callbacks partitions, together all three, none twice
        def split() -> bool:
            got = [assigned(lg, callbacks) for lg in logs]
            return (all(g for g in got) and sum(len(g) for g in got if g) == 3
                    and set().union(*[g for g in got if g]) == {0, 1, 2})
        await until(split)
        seen["split"] = [assigned(lg, callbacks) for lg in logs]
        # the plan is known before the grid raises anything (its records are on other topics
        # and partitions than the events, with no order between them)
        await committed_to_end(bootstrap, prefix + "load-shifter",
                                [prefix + t.name for t in (SITES, PLACEMENTS, BECKN_CALLBACKS)])
        half = SITES_N // 2
        for i in range(half):
            await produce(bootstrap, callbacks, [_stress(i)], key=_txn(i).encode())
        if instances > 1:
            await poll_until(bootstrap, commands, lambda rs: len(rs) >= 8, timeout_s=60)
            victim = procs[1]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            seen["killed_owned"] = assigned(logs[1], callbacks)
            await until(lambda: assigned(logs[0], callbacks) == {0, 1, 2}, 90)
            seen["survivor"] = assigned(logs[0], callbacks)
        for i in range(half, SITES_N):
            await produce(bootstrap, callbacks, [_stress(i)], key=_txn(i).encode())
        await poll_until(bootstrap, commands, lambda rs: len(
            {decode(r.value).value.id for r in rs}) >= EXPECTED, timeout_s=90)
        await asyncio.sleep(1.0)  # anything late (a duplicate) would show up now
        return await read_all(bootstrap, commands), seen
    finally:
        stop(procs)
        for lg in logs:
            assert "Traceback" not in lg.read_text(errors="replace"), lg.read_text()[-3000:]


async def test_two_instances_split_rebalance_and_publish_what_one_would(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    single, _ = await _run(kafka_bootstrap, tmp_path, 1)
    pair, seen = await _run(kafka_bootstrap, tmp_path, 2)

    one = dict(_commands(single))
    assert len(one) == len(single) == EXPECTED  # one instance: no record twice
    actions = Counter(c.action for c in one.values())
    assert actions == {CommandAction.PAUSE_JOB: SITES_N, CommandAction.START_JOB: SITES_N,
                       CommandAction.BATTERY_DISCHARGE: SITES_N,
                       CommandAction.BATTERY_CHARGE: SITES_N}
    assert all(c.power_kw == 300 for c in one.values()
               if c.action in (CommandAction.PAUSE_JOB, CommandAction.START_JOB))
    assert all(c.power_kw == 150 for c in one.values()
               if c.action == CommandAction.BATTERY_DISCHARGE)

    # two instances: each had a share, the survivor took over all three partitions
    first, second = seen["split"]
    assert first and second and not first & second
    assert seen["survivor"] == {0, 1, 2}
    # nothing lost, nothing different: the same ids with the same content
    two = _commands(pair)
    assert {i: c for i, c in two} == one
    # a record re-sent after the kill (outputs acked, offsets not yet committed) repeats the
    # first one exactly, so consumers deduplicating on the id see each command once
    for i, c in two:
        assert c == one[i]
    dupes = len(two) - len(one)
    print(f"scale-out: split {seen['split']}, survivor {seen['survivor']}, "
          f"{len(one)} commands, {dupes} re-sent after the kill")
    assert 0 <= dupes <= EXPECTED // 2
