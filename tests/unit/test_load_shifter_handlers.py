"""Load-shifter handlers: a stress event becomes commands, a response and Beckn updates."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction
from contracts.events import CommandAction, ResponseDispatched, SiteCommandIssued
from contracts.topics import BECKN_UPDATES, COMMANDS, RESPONSES
from services.common.beckn import reply
from services.common.ids import stable_id
from services.common.runner import HandlerRejected
from services.load_shifter.handlers import (
    ShifterState,
    on_grid_update,
    on_order_confirmed,
    on_placement_scheduled,
    on_site_registered,
    soc_at,
)

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    EAST_14_18,
    MANCHESTER,
    MANCHESTER_TXN,
    NW_14_18,
    STRESS_ID,
    at,
    battery,
    beckn,
    cambridge_order,
    cambridge_site,
    env,
    inbound,
    line,
    manchester_order,
    manchester_site,
    order,
    placement,
    receiving_answer,
    seed_placements,
    stress_event,
    stress_update,
)


@pytest.fixture
def shifter() -> ShifterState:
    st = ShifterState()
    for s in (cambridge_site(), manchester_site()):
        on_site_registered(st, inbound(env(s)))
    for p in seed_placements():
        on_placement_scheduled(st, inbound(env(p)))
    for txn, held in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                      (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, held)))
    return st


def _commands(outs: Any) -> list[SiteCommandIssued]:
    return [o.value.payload for o in outs if o.topic == COMMANDS]


def _updates(outs: Any) -> list[BecknMessage]:
    return [o.value for o in outs if o.topic == BECKN_UPDATES]


def _response(outs: Any) -> ResponseDispatched:
    (r,) = [o.value.payload for o in outs if o.topic == RESPONSES]
    return r


def _action(msg: BecknMessage) -> FlexibilityAction:
    assert isinstance(msg.message, OrderMessage)
    act = msg.message.order.attributes
    assert isinstance(act, FlexibilityAction)
    return act


def test_a_site_starts_from_its_initial_state_of_charge(shifter: ShifterState) -> None:
    assert shifter.soc_kwh == {CAMBRIDGE: 360}  # 90 % of 400 kWh; Manchester has no battery


def test_the_stress_event_is_answered_with_commands_for_both_sites(shifter: ShifterState) -> None:
    outs = on_grid_update(shifter, inbound(stress_update()))

    cmds = _commands(outs)
    assert [(c.action, c.site_id, c.power_kw) for c in cmds] == [
        (CommandAction.PAUSE_JOB, CAMBRIDGE, 300), (CommandAction.START_JOB, MANCHESTER, 300),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150),
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200)]
    assert [o.key for o in outs if o.topic == COMMANDS] == [c.site_id for c in cmds]
    assert all(c.event_id == STRESS_ID for c in cmds)
    assert len({c.command_id for c in cmds}) == 4
    assert (cmds[3].start, cmds[3].end) == (at("22:00"), at("23:40"))  # 333.33 kWh at 200 kW


def test_the_response_records_what_was_done(shifter: ShifterState) -> None:
    outs = on_grid_update(shifter, inbound(stress_update()))

    r = _response(outs)
    assert (r.event_id, r.site_id, r.start, r.end) == (STRESS_ID, CAMBRIDGE, at("14:00"),
                                                       at("16:00"))
    assert (r.requested_kw, r.shifted_kw, r.battery_kw, r.shortfall_kw) == (450, 300, 150, 0)
    assert r.shifted_to == (MANCHESTER,)
    assert r.command_ids == tuple(c.command_id for c in _commands(outs))


def test_the_battery_state_of_charge_is_drawn_down(shifter: ShifterState) -> None:
    on_grid_update(shifter, inbound(stress_update()))

    assert soc_at(shifter, CAMBRIDGE, at("16:00")) == pytest.approx(60)  # 360 - 150 kW x 2 h
    # recharged 22:00-23:40 at 200 kW x 0.9: 60 + 333.33 x 0.9 = 360
    assert soc_at(shifter, CAMBRIDGE, at("23:40")) == pytest.approx(360)


def test_the_stressed_order_is_updated_with_the_reduction(shifter: ShifterState) -> None:
    stressed, _ = _updates(on_grid_update(shifter, inbound(stress_update())))

    assert stressed.context.action == Action.UPDATE
    assert stressed.context.transaction_id == CAMBRIDGE_TXN
    assert stressed.context.timestamp == at("14:00")
    assert isinstance(stressed.message, OrderMessage)
    assert stressed.message.order.status == OrderStatus.INPROGRESS
    act = _action(stressed)
    assert (act.event_id, act.role) == (STRESS_ID, "stressed_site")
    assert act.reduction_kw == pytest.approx(450)  # 300 shifted + 0 paused + 150 battery
    assert (act.shifted_kw, act.battery_kw) == (300, pytest.approx(150))
    assert act.new_compute_load_kw == 900  # 1200 ordered - 300 moved away
    assert [a.action for a in act.actions] == ["pause_job", "battery_discharge",
                                               "battery_charge"]  # Cambridge's own


def test_the_receiving_order_is_updated_with_its_new_load(shifter: ShifterState) -> None:
    _, receiving = _updates(on_grid_update(shifter, inbound(stress_update())))

    assert receiving.context.transaction_id == MANCHESTER_TXN
    act = _action(receiving)
    assert act.role == "receiving_site"
    assert (act.reduction_kw, act.shifted_kw, act.battery_kw) == (0, 300, 0)
    assert act.new_compute_load_kw == 1500  # 1200 of batch-b + 300 of batch-a/sweep
    assert [(a.action, a.site_id) for a in act.actions] == [("start_job", MANCHESTER)]


def test_a_repeated_stress_event_is_answered_once(shifter: ShifterState) -> None:
    on_grid_update(shifter, inbound(stress_update()))

    assert on_grid_update(shifter, inbound(stress_update())) == []
    assert soc_at(shifter, CAMBRIDGE, at("16:00")) == pytest.approx(60)  # not drawn twice


def test_the_grids_answer_to_an_update_emits_nothing(shifter: ShifterState) -> None:
    assert on_grid_update(shifter, inbound(receiving_answer(accepted=True))) == []
    assert on_grid_update(shifter, inbound(receiving_answer(accepted=False))) == []


def test_an_on_update_without_a_stress_event_is_rejected(shifter: ShifterState) -> None:
    plain = beckn(Action.ON_UPDATE, CAMBRIDGE_TXN, cambridge_order(OrderStatus.INPROGRESS))

    with pytest.raises(HandlerRejected) as caught:
        on_grid_update(shifter, inbound(plain))

    assert caught.value.reason == "invalid_update"


def test_only_confirmed_orders_are_kept(shifter: ShifterState) -> None:
    st = ShifterState()
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                                         cambridge_order(OrderStatus.REJECTED))))

    assert st.orders == {}


def test_work_moved_by_an_event_returns_when_it_ends_so_a_later_event_moves_it_again(
        shifter: ShifterState) -> None:
    first = stress_event(start="14:00", end="15:00")
    second = stress_event(start="15:00", end="16:00", event_id="stress-uk-east-1500")
    on_grid_update(shifter, inbound(stress_update(first)))

    outs = on_grid_update(shifter, inbound(stress_update(second)))

    # batch-a/sweep ran at Manchester 14-15 and is back at Cambridge at 15:00
    (start,) = [c for c in _commands(outs) if c.action == CommandAction.START_JOB]
    assert (start.site_id, start.start, start.end) == (MANCHESTER, at("15:00"), at("16:00"))
    r = _response(outs)
    # battery: 360 - 150 kWh used 14-15 = 210 kWh, 170 above the reserve over 1 h: 150 fits
    assert (r.shifted_kw, r.battery_kw, r.shortfall_kw) == (300, 150, 0)


def test_a_later_event_sees_the_battery_recharged() -> None:
    st = ShifterState()
    on_site_registered(st, inbound(env(cambridge_site().model_copy(
        update={"battery": battery(recharge_from=at("16:00"))}))))
    evening_txn = stable_id("order", "order-cambridge-evening")
    evening_order = order("order-cambridge-evening", [(EAST_14_18, line(
        CAMBRIDGE, "16:00", "18:00", 600, job_ids=("batch-e",), confirmed_kw=1500))],
        status=OrderStatus.CONFIRMED)
    for p in [*seed_placements(), placement("batch-e", "main", CAMBRIDGE, "16:00", "18:00", 600,
                                            critical=True, migratable=False, txn=evening_txn)]:
        on_placement_scheduled(st, inbound(env(p)))
    for txn, o in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                   (evening_txn, evening_order)):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, o)))
    on_grid_update(st, inbound(stress_update()))  # 150 kW x 2 h out, recharged 16:00-17:40
    late = stress_event(150, start="17:40", end="18:00", event_id="stress-uk-east-1740")
    raised = beckn(Action.ON_UPDATE, evening_txn, evening_order.model_copy(
        update={"status": OrderStatus.INPROGRESS, "attributes": late}), timestamp=at("17:40"))

    outs = on_grid_update(st, inbound(raised))

    r = _response(outs)
    # batch-e is critical, so the battery alone; back at 360 kWh by 17:40:
    # min(150 asked, 200 kW, (360 - 40) kWh / (1/3) h = 960 kW) = 150 kW
    assert (r.battery_kw, r.shortfall_kw) == (150, 0)


# ---- the multi-event cases -------------------------------------------------------------------

FULL_MANCHESTER = order("order-manchester-20251117", [
    (NW_14_18, line(MANCHESTER, "14:00", "18:00", job_ids=("batch-b",), confirmed_kw=1200))],
    status=OrderStatus.CONFIRMED)


@pytest.fixture
def full(shifter: ShifterState) -> ShifterState:
    """The seed state, but Manchester's order was confirmed at 1200 kW: no headroom."""
    on_order_confirmed(shifter, inbound(beckn(Action.ON_CONFIRM, MANCHESTER_TXN, FULL_MANCHESTER)))
    return shifter


def _answer(update: BecknMessage, accepted: bool) -> BecknMessage:
    act = _action(update).model_copy(update={"accepted": accepted})
    assert isinstance(update.message, OrderMessage)
    body = update.message.order.model_copy(update={"attributes": act})
    return reply(update, OrderMessage(order=body),
                 error=None if accepted else ("40002", "no capacity left"))


def test_without_headroom_the_part_is_paused_and_capacity_asked_for(full: ShifterState) -> None:
    outs = on_grid_update(full, inbound(stress_update()))

    assert [(c.action, c.site_id, c.power_kw) for c in _commands(outs)] == [
        (CommandAction.PAUSE_JOB, CAMBRIDGE, 300),  # checkpoint and pause now; no start yet
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, 150),
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, 200)]
    _stressed, ask = _updates(outs)
    act = _action(ask)
    assert ask.context.transaction_id == MANCHESTER_TXN
    assert (act.role, act.new_compute_load_kw) == ("receiving_site", 1500)  # 1200 + 300
    assert [(a.action, a.job_id, a.part_id) for a in act.actions] == [
        ("start_job", "batch-a", "sweep")]
    r = _response(outs)
    assert (r.shifted_kw, r.awaiting_capacity_kw, r.battery_kw, r.shortfall_kw) == (
        0, 300, 150, 0)


def test_the_part_moves_once_the_grid_confirms_the_capacity(full: ShifterState) -> None:
    _, ask = _updates(on_grid_update(full, inbound(stress_update())))

    outs = on_grid_update(full, inbound(_answer(ask, accepted=True)))

    (start,) = _commands(outs)
    assert (start.action, start.site_id, start.power_kw, start.start, start.end) == (
        CommandAction.START_JOB, MANCHESTER, 300, at("14:00"), at("16:00"))
    r = _response(outs)
    assert (r.revision, r.shifted_kw, r.awaiting_capacity_kw, r.paused_kw) == (1, 300, 0, 0)
    assert r.shifted_to == (MANCHESTER,)
    assert full.granted_kw == {MANCHESTER_TXN: 1500}


def test_refused_capacity_leaves_the_part_paused(full: ShifterState) -> None:
    _, ask = _updates(on_grid_update(full, inbound(stress_update())))

    outs = on_grid_update(full, inbound(_answer(ask, accepted=False)))

    assert _commands(outs) == []
    r = _response(outs)
    assert (r.revision, r.shifted_kw, r.awaiting_capacity_kw, r.paused_kw, r.shortfall_kw) == (
        1, 0, 0, 300, 0)


def _manchester_stress(at_hhmm: str = "14:10", kw: float = 450) -> BecknMessage:
    ev = stress_event(kw, start=at_hhmm, end="16:00", event_id="stress-uk-nw-1410")
    body = FULL_MANCHESTER.model_copy(update={"status": OrderStatus.INPROGRESS,
                                              "attributes": ev})
    return beckn(Action.ON_UPDATE, MANCHESTER_TXN, body, timestamp=at(at_hhmm))


def test_an_event_at_the_receiving_site_in_flight_stops_the_move(full: ShifterState) -> None:
    _, ask = _updates(on_grid_update(full, inbound(stress_update())))
    at_manchester = on_grid_update(full, inbound(_manchester_stress()))

    outs = on_grid_update(full, inbound(_answer(ask, accepted=True)))  # the answer comes late

    assert _commands(outs) == []  # no work is started at a stressed site
    assert _response(outs).paused_kw == 300
    # Manchester answered its own event: Cambridge is under stress, so batch-b/main (1200 kW,
    # no battery there) is paused 14:10-16:00
    assert [(c.action, c.site_id, c.power_kw, c.start) for c in _commands(at_manchester)] == [
        (CommandAction.PAUSE_JOB, MANCHESTER, 1200, at("14:10"))]


def test_work_moved_in_is_paused_when_the_receiving_site_is_stressed(
        shifter: ShifterState) -> None:
    on_grid_update(shifter, inbound(stress_update()))  # sweep at Manchester 14-16
    ev = stress_event(250, start="14:30", end="16:00", event_id="stress-uk-nw-1430")
    body = manchester_order(OrderStatus.INPROGRESS, confirmed=True).model_copy(
        update={"attributes": ev})

    outs = on_grid_update(shifter, inbound(beckn(Action.ON_UPDATE, MANCHESTER_TXN, body,
                                                 timestamp=at("14:30"))))

    # the moved-in sweep (300 kW) is the cheapest way to 250 kW: pausing 300 kW for 1.5 h
    # (£112.50) beats pausing batch-b's 1200 kW; nowhere to move either (Cambridge stressed)
    assert [(c.action, c.site_id, c.job_id, c.part_id, c.start, c.end)
            for c in _commands(outs)] == [
        (CommandAction.PAUSE_JOB, MANCHESTER, "batch-a", "sweep", at("14:30"), at("16:00"))]


def test_an_overlapping_event_at_the_same_site_extends_and_shares_the_battery(
        shifter: ShifterState) -> None:
    on_grid_update(shifter, inbound(stress_update(stress_event(start="14:00", end="15:00"))))
    second = stress_event(450, start="14:30", end="16:00", event_id="stress-uk-east-1430")

    outs = on_grid_update(shifter, inbound(stress_update(second)))

    cmds = _commands(outs)
    # the sweep is off until 15:00 already; Manchester's peak over 14:30-16:00 is 1500 of 1500,
    # so extending the move 15:00-16:00 needs more capacity: paused from 15:00 meanwhile
    assert (cmds[0].action, cmds[0].job_id, cmds[0].start, cmds[0].end) == (
        CommandAction.PAUSE_JOB, "batch-a", at("15:00"), at("16:00"))
    r = _response(outs)
    # battery: 200 kW rating less the first event's 150 kW still running at 14:30 = 50 kW
    assert (r.awaiting_capacity_kw, r.battery_kw, r.shortfall_kw) == (300, 50, 100)


def test_an_event_that_ends_early_cuts_its_commands_short(shifter: ShifterState) -> None:
    first = on_grid_update(shifter, inbound(stress_update()))
    early = stress_update(stress_event(end="15:00")).model_copy(update={"context": stress_update(
        stress_event(end="15:00")).context.model_copy(update={"message_id": "ended-early",
                                                              "timestamp": at("15:00")})})

    outs = on_grid_update(shifter, inbound(early))

    old = {c.command_id: c for c in _commands(first)}
    new = _commands(outs)
    assert [(c.action, c.site_id, c.start, c.end) for c in new] == [
        (CommandAction.PAUSE_JOB, CAMBRIDGE, at("14:00"), at("15:00")),
        (CommandAction.START_JOB, MANCHESTER, at("14:00"), at("15:00")),
        (CommandAction.BATTERY_DISCHARGE, CAMBRIDGE, at("14:00"), at("15:00")),
        # 150 kWh discharged / 0.9 = 166.67 kWh at 200 kW: 50 min
        (CommandAction.BATTERY_CHARGE, CAMBRIDGE, at("22:00"), at("22:50"))]
    assert all(c.replaces in old for c in new)
    assert all("ended early at 15:00" in c.reason for c in new)
    r = _response(outs)
    assert (r.revision, r.end, r.shifted_kw, r.battery_kw) == (1, at("15:00"), 300, 150)
    assert soc_at(shifter, CAMBRIDGE, at("16:00")) == pytest.approx(210)  # 360 - 150
    (update,) = _updates(outs)
    assert [a.end for a in _action(update).actions] == [at("15:00"), at("15:00"), at("22:50")]


def test_the_policy_costs_come_from_the_settings() -> None:
    from services.load_shifter.bootstrap import bootstrap
    from services.load_shifter.settings import LoadShifterSettings

    runner = bootstrap(LoadShifterSettings(pause_gbp_per_kwh=0.5, battery_gbp_per_kwh=0.6))

    assert (runner.state.costs.pause_gbp_per_kwh, runner.state.costs.battery_gbp_per_kwh) == (
        0.5, 0.6)
