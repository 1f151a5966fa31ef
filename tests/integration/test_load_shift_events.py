"""The load-shifter and the grid through a real broker, for the multi-event cases: a move that
waits for the grid to confirm more capacity, an event that ends early, an event at the
receiving site while a move is in flight, an overlapping event that finds the battery nearly
spent. Both services run in-process (their real runners); the test plays the planner
(placements, confirms) and the grid operator raising stress events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.beckn.models import Action, BecknMessage, OrderStatus
from contracts.events import CommandAction, ResponseDispatched, SiteCommandIssued
from contracts.topics import (
    BECKN_CALLBACKS,
    BECKN_ORDERS,
    COMMANDS,
    PLACEMENTS,
    RESPONSES,
    SITES,
)
from services.common.codec import decode, encode
from services.common.ids import stable_id
from services.common.runner import Runner
from services.grid_signal.bootstrap import bootstrap as grid_bootstrap
from services.grid_signal.settings import GridSignalSettings
from services.load_shifter.bootstrap import bootstrap as shifter_bootstrap
from services.load_shifter.settings import LoadShifterSettings
from services.replay.driver import create_topics
from tests.integration.streams import poll_until, produce, read_all, start, stop, wait_for
from tests.unit.factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    NW_14_18,
    SEED_PATH,
    at,
    beckn,
    cambridge_order,
    cambridge_site,
    env,
    line,
    manchester_site,
    order,
    seed_placements,
    stress_event,
)

pytestmark = pytest.mark.kafka


def _manchester_1200() -> Any:
    """Batch-b's order asking 1200 kW of the UK-NW 14-18 window's 1500: 300 kW stay free."""
    return order("order-manchester-20251117", [(NW_14_18, line(
        MANCHESTER, "14:00", "18:00", capacity_kw=1200, job_ids=("batch-b",)))])


def _raise(txn: str, body: Any, ev: Any, at_hhmm: str, tag: str = "") -> bytes:
    """The grid operator's unsolicited on_update carrying a stress event on an order."""
    raised = body.model_copy(update={"status": OrderStatus.INPROGRESS, "attributes": ev})
    return encode(beckn(Action.ON_UPDATE, txn, raised, timestamp=at(at_hhmm),
                        message_id=stable_id("on_update", txn, ev.event_id, tag)))


@pytest.fixture
async def day(kafka_bootstrap: str) -> AsyncIterator[tuple[str, Runner[Any]]]:
    """Both services up on fresh topics, the seed sites, plan and confirmed orders known."""
    prefix = f"ls.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    grid = grid_bootstrap(GridSignalSettings(bootstrap_servers=kafka_bootstrap,
                                             topic_prefix=prefix, scenario=SEED_PATH))
    shifter = shifter_bootstrap(LoadShifterSettings(bootstrap_servers=kafka_bootstrap,
                                                    topic_prefix=prefix))
    tasks = [(grid, await start(grid)), (shifter, await start(shifter))]
    try:
        await produce(kafka_bootstrap, prefix + SITES.name,
                      [encode(env(s)) for s in (cambridge_site(), manchester_site())])
        for p in seed_placements():
            await produce(kafka_bootstrap, prefix + PLACEMENTS.name, [encode(env(p))],
                          key=p.site_id.encode())
        for txn, o in ((CAMBRIDGE_TXN, cambridge_order()), (MANCHESTER_TXN, _manchester_1200())):
            await produce(kafka_bootstrap, prefix + BECKN_ORDERS.name,
                          [encode(beckn(Action.CONFIRM, txn, o, timestamp=at("09:00")))],
                          key=txn.encode())
        st = shifter.state
        await wait_for(lambda: len(st.orders) == 2 and len(st.placements) == 3
                       and len(st.sites) == 2)
        yield prefix, shifter
    finally:
        for runner, task in reversed(tasks):
            await stop(runner, task)


def _payloads(recs: list[Any], kind: type) -> list[Any]:
    out = []
    for r in recs:
        v = decode(r.value).value
        if not isinstance(v, BecknMessage) and isinstance(v.payload, kind):
            out.append(v.payload)
    return out


def _commands(recs: list[Any]) -> list[SiteCommandIssued]:
    return _payloads(recs, SiteCommandIssued)


def _latest(recs: list[Any], site_id: str) -> ResponseDispatched | None:
    mine = [r for r in _payloads(recs, ResponseDispatched) if r.site_id == site_id]
    return max(mine, key=lambda r: r.revision, default=None)


async def test_a_move_waits_for_capacity_then_the_event_ends_early(
        kafka_bootstrap: str, day: tuple[str, Runner[Any]]) -> None:
    prefix, _ = day
    cmds, resps = prefix + COMMANDS.name, prefix + RESPONSES.name
    await produce(kafka_bootstrap, prefix + BECKN_CALLBACKS.name,
                  [_raise(CAMBRIDGE_TXN, cambridge_order(confirmed=True), stress_event(),
                          "14:00")], key=CAMBRIDGE_TXN.encode())

    # Manchester's order has no headroom (1200 of 1200): the sweep is paused, the grid asked
    # for 300 kW more, grants it from the window's free 300 kW, and only then does it start
    recs = await poll_until(kafka_bootstrap, cmds, lambda rs: any(
        c.action == CommandAction.START_JOB for c in _commands(rs)))
    got = [(c.action, c.site_id, c.power_kw, c.start, c.end) for c in _commands(recs)]
    assert sorted(got) == sorted([  # the topic is read partition by partition
        (CommandAction.PAUSE_JOB, CAMBRIDGE, 300, at("14:00"), at("16:00")),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150, at("14:00"), at("16:00")),
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200, at("22:00"), at("23:40")),
        (CommandAction.START_JOB, MANCHESTER, 300, at("14:00"), at("16:00"))])
    r = await poll_until(kafka_bootstrap, resps, lambda rs: (
        (x := _latest(rs, CAMBRIDGE)) is not None and x.revision == 1))
    first = _latest(r, CAMBRIDGE)
    assert first is not None
    assert (first.shifted_kw, first.awaiting_capacity_kw, first.battery_kw,
            first.shortfall_kw, first.shifted_to) == (300, 0, 150, 0, (MANCHESTER,))

    # the grid ends the event at 15:00: every command is cut short, the recharge shrinks
    await produce(kafka_bootstrap, prefix + BECKN_CALLBACKS.name,
                  [_raise(CAMBRIDGE_TXN, cambridge_order(confirmed=True),
                          stress_event(end="15:00"), "15:00", "ended")],
                  key=CAMBRIDGE_TXN.encode())
    r = await poll_until(kafka_bootstrap, resps, lambda rs: (
        (x := _latest(rs, CAMBRIDGE)) is not None and x.revision == 2))
    ended = _latest(r, CAMBRIDGE)
    assert ended is not None and ended.end == at("15:00")
    recs = await poll_until(kafka_bootstrap, cmds, lambda rs: len(_commands(rs)) >= 8)
    cut = [(c.action, c.site_id, c.start, c.end) for c in _commands(recs) if c.replaces]
    assert sorted(cut) == sorted([
        (CommandAction.PAUSE_JOB, CAMBRIDGE, at("14:00"), at("15:00")),
        (CommandAction.START_JOB, MANCHESTER, at("14:00"), at("15:00")),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, at("14:00"), at("15:00")),
        # 150 kWh discharged / 0.9 = 166.67 kWh at 200 kW = 50 min
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, at("22:00"), at("22:50"))])


async def test_an_event_at_the_receiving_site_in_flight_then_an_overlapping_one(
        kafka_bootstrap: str, day: tuple[str, Runner[Any]]) -> None:
    prefix, shifter = day
    cmds, resps = prefix + COMMANDS.name, prefix + RESPONSES.name
    callbacks = prefix + BECKN_CALLBACKS.name
    # Cambridge's event, then at once one at Manchester: whichever the shifter sees first,
    # nothing may start at Manchester once it is under stress
    await produce(kafka_bootstrap, callbacks, [_raise(
        CAMBRIDGE_TXN, cambridge_order(confirmed=True), stress_event(), "14:00")],
        key=CAMBRIDGE_TXN.encode())
    await produce(kafka_bootstrap, callbacks, [_raise(
        MANCHESTER_TXN, _manchester_1200(),
        stress_event(450, event_id="stress-uk-nw-1400"), "14:00")],
        key=MANCHESTER_TXN.encode())
    r = await poll_until(kafka_bootstrap, resps, lambda rs: (
        (c := _latest(rs, CAMBRIDGE)) is not None and c.awaiting_capacity_kw == 0
        and _latest(rs, MANCHESTER) is not None))
    cam, man = _latest(r, CAMBRIDGE), _latest(r, MANCHESTER)
    assert cam is not None and man is not None
    assert (cam.shifted_kw, cam.paused_kw, cam.battery_kw, cam.shortfall_kw) == (0, 300, 150, 0)
    # Manchester has no battery and Cambridge is stressed: batch-b/main (1200 kW) is paused
    assert (man.shifted_kw, man.shortfall_kw) == (0, 0)
    await wait_for(lambda: not shifter.state.pending)  # the grid's answer has been handled
    started = [c for c in _commands(await read_all(kafka_bootstrap, cmds))
               if c.action == CommandAction.START_JOB]
    assert started == []

    # 15:00-17:00 at Cambridge again: the sweep is off until its end already (free), and the
    # battery, still giving 150 kW until 16:00, has 360 - 150 - 150 - 40 = 20 kWh to spare
    # over 2 h: 10 kW. 450 - 300 - 10 = 140 kW short, reported.
    await produce(kafka_bootstrap, callbacks, [_raise(
        CAMBRIDGE_TXN, cambridge_order(confirmed=True),
        stress_event(450, start="15:00", end="17:00", event_id="stress-uk-east-1500"),
        "15:00")], key=CAMBRIDGE_TXN.encode())
    r = await poll_until(kafka_bootstrap, resps, lambda rs: any(
        x.event_id == "stress-uk-east-1500" for x in _payloads(rs, ResponseDispatched)))
    (late,) = [x for x in _payloads(r, ResponseDispatched) if x.event_id == "stress-uk-east-1500"]
    assert late.battery_kw == pytest.approx(10)
    assert late.shortfall_kw == pytest.approx(140)

