"""GridFlexAgent's handlers: signals on the clock, the catalogue, order capacity, stress events."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import (
    Action,
    BecknMessage,
    DiscoverMessage,
    OnDiscoverMessage,
    Order,
    OrderMessage,
    OrderStatus,
)
from contracts.compute_energy.vocab import ComputeEnergyWindow, FlexibilityAction, GridStressEvent
from contracts.events import ZoneSignalPublished
from contracts.topics import BECKN_CALLBACKS, GRID_SIGNALS
from services.common.ids import stable_id
from services.common.runner import HandlerRejected, Out
from services.grid_signal.handlers import (
    GridState,
    on_clock_advanced,
    on_confirm,
    on_discover,
    on_init,
    on_select,
    on_update,
)

from .factories import (
    CAMBRIDGE_TXN,
    EAST_10_14,
    EAST_14_18,
    MANCHESTER,
    MANCHESTER_TXN,
    NW_10_14,
    NW_14_18,
    STRESS_ID,
    at,
    beckn,
    cambridge_order,
    inbound,
    line,
    manchester_order,
    order,
    receiving_answer,
    seed,
    tick,
)


@pytest.fixture
def grid() -> GridState:
    return GridState.from_scenario(seed())


def _only(outs: Any) -> BecknMessage:
    (out,) = outs
    assert isinstance(out, Out) and out.topic == BECKN_CALLBACKS
    assert isinstance(out.value, BecknMessage)
    assert out.key == out.value.context.transaction_id
    return out.value


def _order(msg: BecknMessage) -> Order:
    assert isinstance(msg.message, OrderMessage)
    return msg.message.order


def _confirm(grid: GridState, order: Order, txn: str) -> BecknMessage:
    return _only(on_confirm(grid, inbound(beckn(Action.CONFIRM, txn, order))))


def _signals(outs: Any) -> list[ZoneSignalPublished]:
    return [o.value.payload for o in outs if o.topic == GRID_SIGNALS]


def _stresses(outs: Any) -> list[BecknMessage]:
    return [o.value for o in outs if o.topic == BECKN_CALLBACKS]


# ---- signals -----------------------------------------------------------------------------------


def test_each_periods_signal_is_published_once_when_its_start_is_reached(grid: GridState) -> None:
    first = on_clock_advanced(grid, inbound(tick("00:00")))
    again = on_clock_advanced(grid, inbound(tick("00:00")))
    later = on_clock_advanced(grid, inbound(tick("01:00")))

    assert [(s.zone, s.period_start) for s in _signals(first)] == [
        ("UK-EAST", at("00:00")), ("UK-NW", at("00:00"))]
    assert again == []
    # periods 00:30 and 01:00 for both zones
    assert [(s.zone, s.period_start) for s in _signals(later)] == [
        ("UK-EAST", at("00:30")), ("UK-NW", at("00:30")),
        ("UK-EAST", at("01:00")), ("UK-NW", at("01:00"))]
    assert all(o.key == o.value.payload.zone for o in later)  # keyed by zone


def test_the_stressed_periods_carry_the_surcharge_and_the_event_id(grid: GridState) -> None:
    on_clock_advanced(grid, inbound(tick("13:30")))
    outs = on_clock_advanced(grid, inbound(tick("16:00")))

    east = {s.period_start: s for s in _signals(outs) if s.zone == "UK-EAST"}
    assert east[at("14:00")].price_gbp_per_kwh == pytest.approx(0.132)  # 0.102 + 0.03
    assert (east[at("14:00")].renewable_pct, east[at("14:00")].carbon_g_per_kwh) == (45, 134)
    assert east[at("14:00")].stress_event_id == STRESS_ID
    assert east[at("16:00")].price_gbp_per_kwh == pytest.approx(0.102)  # back to the base
    assert east[at("16:00")].stress_event_id is None


# ---- discovery ---------------------------------------------------------------------------------


def _discover(at_hhmm: str) -> BecknMessage:
    return beckn(Action.DISCOVER, stable_id("discover", at_hhmm), DiscoverMessage(
        text_search="compute energy flexibility windows"), timestamp=at(at_hhmm))


def test_discovery_is_answered_with_every_window_still_open(grid: GridState) -> None:
    ask = _discover("08:00")

    answer = _only(on_discover(grid, inbound(ask)))

    assert answer.context.action == Action.ON_DISCOVER
    assert answer.context.message_id == ask.context.message_id  # paired with the request
    assert answer.context.transaction_id == ask.context.transaction_id
    assert isinstance(answer.message, OnDiscoverMessage)
    (cat,) = answer.message.catalogs
    assert [i.id for i in cat.items] == [EAST_10_14, NW_10_14, EAST_14_18, NW_14_18]  # by start
    east = cat.items[0].item_attributes
    assert isinstance(east, ComputeEnergyWindow)
    assert (east.renewable_pct, east.carbon_intensity_g_per_kwh) == (80.0, 36.0)
    assert east.price_gbp_per_kwh == pytest.approx(0.102)
    assert east.capacity_kw == 1500
    assert [o.price.value for o in cat.offers if o.price] == [0.102, 0.11, 0.102, 0.092]


def test_windows_that_have_ended_are_no_longer_offered(grid: GridState) -> None:
    answer = _only(on_discover(grid, inbound(_discover("14:00"))))

    assert isinstance(answer.message, OnDiscoverMessage)
    # 10:00-14:00 windows end at the request time, so only the afternoon ones remain
    assert [i.id for i in answer.message.catalogs[0].items] == [EAST_14_18, NW_14_18]


# ---- select / init / confirm -------------------------------------------------------------------


def test_select_is_quoted_at_the_window_prices(grid: GridState) -> None:
    ask = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order())

    quote = _only(on_select(grid, inbound(ask)))

    order = _order(quote)
    assert quote.context.action == Action.ON_SELECT
    assert quote.context.message_id == ask.context.message_id
    assert quote.error is None
    assert order.status == OrderStatus.CREATED
    assert order.value is not None
    assert order.value.value == pytest.approx(734.40)  # (4800 + 2400 kWh) x £0.102
    assert [i.accepted_offer.id for i in order.items if i.accepted_offer] == [
        f"offer-{EAST_10_14}", f"offer-{EAST_14_18}"]
    assert grid.reserved == {}  # a quote reserves nothing


def test_init_sets_the_order_pending(grid: GridState) -> None:
    terms = _only(on_init(grid, inbound(beckn(Action.INIT, CAMBRIDGE_TXN, cambridge_order()))))

    assert terms.context.action == Action.ON_INIT
    assert terms.error is None
    assert _order(terms).status == OrderStatus.PENDING
    assert grid.reserved == {}


def test_confirm_reserves_each_lines_capacity_and_confirms_it(grid: GridState) -> None:
    done = _confirm(grid, cambridge_order(), CAMBRIDGE_TXN)

    order = _order(done)
    assert done.context.action == Action.ON_CONFIRM
    assert done.error is None
    assert order.status == OrderStatus.CONFIRMED
    assert [i.attributes.confirmed_capacity_kw for i in order.items] == [1500, 1500]
    assert grid.reserved == {EAST_10_14: 1500, EAST_14_18: 1500}  # one 1500 kW line each


def test_a_second_identical_order_is_refused_for_lack_of_capacity(grid: GridState) -> None:
    _confirm(grid, cambridge_order(), CAMBRIDGE_TXN)
    txn = stable_id("order", "order-copy")

    refused = _confirm(grid, cambridge_order(order_id="order-copy"), txn)

    assert refused.error is not None
    assert refused.error.code == "40002"
    assert refused.error.message == (f"{EAST_10_14}: 1500 kW asked, 0 kW left of 1500 kW; "
                                     f"{EAST_14_18}: 1500 kW asked, 0 kW left of 1500 kW")
    assert _order(refused).status == OrderStatus.REJECTED
    assert grid.reserved == {EAST_10_14: 1500, EAST_14_18: 1500}  # unchanged


def test_select_and_init_also_see_the_reserved_capacity(grid: GridState) -> None:
    _confirm(grid, cambridge_order(), CAMBRIDGE_TXN)
    txn = stable_id("order", "order-copy")
    copy = cambridge_order(order_id="order-copy")

    for handler, action in ((on_select, Action.SELECT), (on_init, Action.INIT)):
        answer = _only(handler(grid, inbound(beckn(action, txn, copy))))
        assert answer.error is not None and answer.error.code == "40002"
        assert _order(answer).status == OrderStatus.REJECTED


def test_confirming_the_same_order_twice_is_rejected_to_the_dead_letters(grid: GridState) -> None:
    _confirm(grid, cambridge_order(), CAMBRIDGE_TXN)

    with pytest.raises(HandlerRejected) as caught:
        on_confirm(grid, inbound(beckn(Action.CONFIRM, CAMBRIDGE_TXN, cambridge_order(),
                                       message_id=stable_id("another confirm"))))

    assert caught.value.reason == "duplicate_order"


def test_an_order_for_a_window_not_on_offer_is_refused_with_30004(grid: GridState) -> None:
    ask = order("order-x", [("window-uk-east-0600-1000", line("cambridge-east", "06:00",
                                                                "10:00"))])
    answer = _only(on_select(grid, inbound(beckn(Action.SELECT, CAMBRIDGE_TXN, ask))))

    assert answer.error is not None
    assert answer.error.code == "30004"
    assert "no such window on offer" in answer.error.message


# ---- stress events -----------------------------------------------------------------------------


def _both_confirmed(grid: GridState) -> None:
    _confirm(grid, cambridge_order(), CAMBRIDGE_TXN)
    _confirm(grid, manchester_order(), MANCHESTER_TXN)


def test_the_stress_event_is_raised_at_its_start_on_the_cambridge_order_only(
        grid: GridState) -> None:
    _both_confirmed(grid)
    before = on_clock_advanced(grid, inbound(tick("13:30")))

    outs = on_clock_advanced(grid, inbound(tick("14:00")))

    assert _stresses(before) == []
    (raised,) = _stresses(outs)
    assert raised.context.action == Action.ON_UPDATE
    assert raised.context.transaction_id == CAMBRIDGE_TXN  # Manchester is in UK-NW
    assert raised.context.timestamp == at("14:00")
    order = _order(raised)
    assert order.status == OrderStatus.INPROGRESS
    ev = order.attributes
    assert isinstance(ev, GridStressEvent)
    assert (ev.event_id, ev.grid_zone, ev.start, ev.end) == (STRESS_ID, "UK-EAST", at("14:00"),
                                                             at("16:00"))
    assert ev.requested_reduction_kw == 450  # min(450 asked, 1200 kW ordered)
    assert ev.utilisation_payment_gbp_per_mwh == 150
    assert ev.price_delta_gbp_per_kwh == pytest.approx(0.03)
    assert [o.topic for o in outs].count(GRID_SIGNALS) == 2  # 14:00 in both zones


def test_a_stress_event_is_raised_once(grid: GridState) -> None:
    _both_confirmed(grid)
    on_clock_advanced(grid, inbound(tick("14:00")))

    assert _stresses(on_clock_advanced(grid, inbound(tick("14:30")))) == []


def test_the_requested_reduction_is_capped_at_the_orders_load(grid: GridState) -> None:
    small = order("order-small", [(EAST_14_18, line("cambridge-east", "14:00", "16:00", 200))])
    _confirm(grid, small, CAMBRIDGE_TXN)

    (raised,) = _stresses(on_clock_advanced(grid, inbound(tick("14:00"))))

    ev = _order(raised).attributes
    assert isinstance(ev, GridStressEvent)
    assert ev.requested_reduction_kw == 200  # min(450 asked, 200 kW ordered)


def test_an_order_outside_the_stress_span_is_not_stressed(grid: GridState) -> None:
    morning = order("order-am", [(EAST_10_14, line("cambridge-east", "10:00", "14:00"))])
    _confirm(grid, morning, CAMBRIDGE_TXN)

    assert _stresses(on_clock_advanced(grid, inbound(tick("14:00")))) == []  # ends at 14:00


# ---- updates -----------------------------------------------------------------------------------


def _receiving_update(new_load_kw: float) -> BecknMessage:
    answer = receiving_answer(new_load_kw, accepted=None)
    return beckn(Action.UPDATE, MANCHESTER_TXN, _order(answer), timestamp=at("14:00"))


def test_a_receiving_load_within_the_confirmed_capacity_is_accepted(grid: GridState) -> None:
    _both_confirmed(grid)

    answer = _only(on_update(grid, inbound(_receiving_update(1500))))  # 1200 + 300 = 1500

    act = _order(answer).attributes
    assert isinstance(act, FlexibilityAction)
    assert act.accepted is True
    assert answer.error is None
    assert answer.context.action == Action.ON_UPDATE


def test_a_receiving_load_beyond_the_confirmed_capacity_is_refused(grid: GridState) -> None:
    _both_confirmed(grid)

    answer = _only(on_update(grid, inbound(_receiving_update(1500.5))))

    act = _order(answer).attributes
    assert isinstance(act, FlexibilityAction)
    assert act.accepted is False
    assert answer.error is not None and answer.error.code == "40002"


def test_an_update_on_an_order_never_confirmed_is_refused(grid: GridState) -> None:
    answer = _only(on_update(grid, inbound(_receiving_update(100))))

    act = _order(answer).attributes
    assert isinstance(act, FlexibilityAction) and act.accepted is False


def test_an_update_without_a_flexibility_action_goes_to_the_dead_letters(
        grid: GridState) -> None:
    _both_confirmed(grid)

    with pytest.raises(HandlerRejected) as caught:
        on_update(grid, inbound(beckn(Action.UPDATE, MANCHESTER_TXN, manchester_order())))

    assert caught.value.reason == "invalid_update"


def test_more_capacity_is_granted_from_what_the_window_has_left(grid: GridState) -> None:
    small = order("order-manchester-20251117", [(NW_14_18, line(
        MANCHESTER, "14:00", "18:00", capacity_kw=1200, job_ids=("batch-b",)))])
    _confirm(grid, small, MANCHESTER_TXN)  # reserves 1200 of the window's 1500 kW

    answer = _only(on_update(grid, inbound(_receiving_update(1450))))  # 250 kW more

    act = _order(answer).attributes
    assert isinstance(act, FlexibilityAction) and act.accepted is True
    assert grid.reserved[NW_14_18] == 1450
    (held,) = _order(grid.confirmed["order-manchester-20251117"]).items
    assert held.attributes.confirmed_capacity_kw == 1450
    # only 50 kW are left now
    refused = _only(on_update(grid, inbound(_receiving_update(1550))))
    assert refused.error is not None and refused.error.code == "40002"
    assert "has 50 kW left" in refused.error.message
