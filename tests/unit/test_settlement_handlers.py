"""Settlement handlers: the day settles once, when every piece is in, and closes each order."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, BecknMessage, OrderMessage, OrderStatus
from contracts.compute_energy.vocab import SettlementMetrics
from contracts.events import SettlementStatementIssued, SiteDaySettled
from contracts.topics import BECKN_STATUSES, STATEMENTS
from rules.settlement import SettlementConfig
from services.common.runner import HandlerRejected
from services.grid_signal.domain import zone_signals
from services.settlement.handlers import (
    HANDLERS,
    SettlementState,
    on_day_closed,
    on_grid_update,
    on_order_confirmed,
    on_reading,
    on_response,
    on_signal,
    on_verified,
)

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    at,
    beckn,
    cambridge_order,
    day_closed,
    env,
    feed,
    inbound,
    manchester_order,
    seed,
    seed_manchester_readings,
    seed_response,
    seed_verified,
    settlement_day,
    stress_update,
)


@pytest.fixture
def ledger() -> SettlementState:
    """Everything of the seed day but the response record, which is left for the test."""
    st = SettlementState()
    *records, _response = settlement_day().records()
    # nothing before the response completes the day: the last closure finds the event not yet
    # verified, the verification finds no response record yet
    assert feed(HANDLERS, st, records) == []
    return st


def _statement(outs: Any) -> SettlementStatementIssued:
    """The statement follows the per-site records on the statements topic, keyed by day."""
    on_topic = [o for o in outs if o.topic == STATEMENTS]
    assert {o.key for o in on_topic} == {"2025-11-17"}
    *sites, last = on_topic
    assert all(isinstance(o.value.payload, SiteDaySettled) for o in sites)
    assert isinstance(last.value.payload, SettlementStatementIssued)
    assert [o.value.payload.site_id for o in sites] == [s.site_id for s in last.value.payload.sites]
    return last.value.payload


def _statuses(outs: Any) -> list[BecknMessage]:
    return [o.value for o in outs if o.topic == BECKN_STATUSES]


def _metrics(msg: BecknMessage) -> SettlementMetrics:
    assert isinstance(msg.message, OrderMessage)
    assert msg.message.order.status == OrderStatus.COMPLETED
    m = msg.message.order.attributes
    assert isinstance(m, SettlementMetrics)
    return m


def test_the_day_settles_when_the_last_piece_arrives(ledger: SettlementState) -> None:
    outs = on_response(ledger, inbound(env(seed_response())))

    st = _statement(outs)
    assert (st.day_start, st.day_end) == (at("00:00"), at("24:00"))
    assert st.baseline_cost_gbp == pytest.approx(1248.00)  # 489.60 + 316.80 + 441.60
    assert st.actual_cost_gbp == pytest.approx(1207.733333)  # 489.60 + 198 + 23.33 + 496.80
    assert st.baseline_carbon_kg == pytest.approx(734.4)  # 172.8 + 321.6 + 240
    assert st.actual_carbon_kg == pytest.approx(669.8)  # 172.8 + 201 + 26 + 270
    assert st.flex_payment_gbp == pytest.approx(135)  # £150/MWh x 0.9 MWh x 1.0
    assert (st.shifted_kw, st.battery_kw) == (300, 150)
    assert (st.verified_kw, st.verified_kwh, st.net_system_kw) == (450, 900, 150)
    assert [s.site_id for s in st.sites] == [CAMBRIDGE, MANCHESTER]
    assert [(o.site_id, o.flex_payment_gbp) for o in st.orders] == [(CAMBRIDGE, 135),
                                                                    (MANCHESTER, 0)]
    assert all(s.missing_readings == 0 for s in st.sites)


def test_each_order_is_closed_with_its_metrics(ledger: SettlementState) -> None:
    cambridge, manchester = _statuses(on_response(ledger, inbound(env(seed_response()))))

    assert cambridge.context.action == Action.ON_STATUS
    assert cambridge.context.transaction_id == CAMBRIDGE_TXN
    assert cambridge.context.timestamp == at("24:00")
    c = _metrics(cambridge)
    assert (c.cost_gbp, c.baseline_cost_gbp) == (710.93, 806.40)  # to the penny
    assert (c.carbon_kg, c.baseline_carbon_kg) == (399.8, 494.4)  # to the gram
    assert c.verified_flexibility_kwh == 900
    assert c.delivered_pct == 100
    assert c.flex_payment_gbp == 135
    assert (c.utilisation_payment_gbp, c.availability_payment_gbp, c.performance_factor) == (
        135, 0, 1)
    assert (c.battery_recharge_cost_gbp, c.battery_losses_kwh) == (23.33, 33.333)  # 300/0.9 - 300
    assert c.marginal_carbon_kg is None  # the seed day gives no marginal factor
    early, late = c.items  # one per order item, by its ordered item id
    assert [i.ordered_item for i in c.items] == [
        it.ordered_item for it in cambridge_order().items]
    assert (early.energy_kwh, early.cost_gbp, early.verified_flexibility_kwh) == (4800, 489.6, 0)
    assert (late.energy_kwh, late.cost_gbp, late.carbon_kg) == (1500, 198, 201)
    assert (late.baseline_cost_gbp, late.verified_flexibility_kwh, late.flex_payment_gbp) == (
        316.8, 900, 135)
    assert manchester.context.transaction_id == MANCHESTER_TXN
    m = _metrics(manchester)
    assert (m.energy_kwh, m.cost_gbp) == (5400, 496.80)
    assert (m.verified_flexibility_kwh, m.delivered_pct, m.flex_payment_gbp) == (0, None, 0)


def test_the_day_settles_once(ledger: SettlementState) -> None:
    on_response(ledger, inbound(env(seed_response())))

    assert on_response(ledger, inbound(env(seed_response()))) == []
    assert on_day_closed(ledger, inbound(env(day_closed(MANCHESTER)))) == []


def test_a_partial_delivery_is_paid_by_its_performance_factor(ledger: SettlementState) -> None:
    on_verified(ledger, inbound(env(seed_verified(delivered_kw=337.5, pct=75))))

    st = _statement(on_response(ledger, inbound(env(seed_response()))))

    assert st.flex_payment_gbp == pytest.approx(50.625)  # £150/MWh x 0.675 MWh x 0.5


def test_a_missing_signal_period_holds_the_day_back() -> None:
    st = SettlementState()
    for zone in ("UK-EAST", "UK-NW"):
        for s in zone_signals(seed(), zone):
            if (zone, s.period_start) != ("UK-NW", at("23:30")):
                on_signal(st, inbound(env(s)))
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, MANCHESTER_TXN,
                                         manchester_order(OrderStatus.CONFIRMED,
                                                          confirmed=True))))
    for r in seed_manchester_readings():
        on_reading(st, inbound(env(r)))

    assert on_day_closed(st, inbound(env(day_closed(MANCHESTER)))) == []
    (last,) = [s for s in zone_signals(seed(), "UK-NW") if s.period_start == at("23:30")]
    outs = on_signal(st, inbound(env(last)))
    assert _statement(outs).actual_cost_gbp == pytest.approx(496.80)  # no event: Manchester only


def test_unconfirmed_orders_are_not_settled() -> None:
    st = SettlementState()
    on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                                         cambridge_order(OrderStatus.REJECTED))))

    assert st.orders == {}
    assert on_day_closed(st, inbound(env(day_closed(CAMBRIDGE)))) == []


def test_a_day_that_cannot_be_settled_is_rejected_with_the_reason(
        ledger: SettlementState) -> None:
    ledger.config = SettlementConfig(interval_minutes=60)  # longer than the 30-min signals

    with pytest.raises(HandlerRejected, match="unsettleable: zone UK-EAST: the signal from"):
        on_response(ledger, inbound(env(seed_response())))


def test_a_verification_read_before_its_instruction_waits_for_it(
        ledger: SettlementState) -> None:
    instructed = dict(ledger.book.events)
    ledger.book.events.clear()  # as a fresh consumer group may read the topics

    assert on_response(ledger, inbound(env(seed_response()))) == []
    ledger.book.events.update(instructed)
    st = _statement(on_grid_update(ledger, inbound(stress_update())))
    assert st.flex_payment_gbp == pytest.approx(135)
