"""Load-shifter handlers: a stress event becomes commands, a response and Beckn updates."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction
from contracts.events import CommandAction, ResponseDispatched, SiteCommandIssued
from contracts.topics import BECKN_UPDATES, COMMANDS, RESPONSES
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
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                       (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, order)))
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


def test_a_part_already_moved_is_not_moved_again_by_a_later_event(
        shifter: ShifterState) -> None:
    first = stress_event(start="14:00", end="15:00")
    second = stress_event(start="15:00", end="16:00", event_id="stress-uk-east-1500")
    on_grid_update(shifter, inbound(stress_update(first)))

    outs = on_grid_update(shifter, inbound(stress_update(second)))

    # batch-a/sweep has run at Manchester since 14:00; Cambridge has only its critical core left
    assert [c for c in _commands(outs) if c.action == CommandAction.START_JOB] == []
    assert _response(outs).shifted_kw == 0


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
