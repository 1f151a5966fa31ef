"""CompFlex planner handlers: discover when batches wait, one order per site, schedule parts."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, BecknMessage, Order, OrderMessage, OrderStatus
from contracts.events import JobPart, JobSubmitted, PlacementScheduled
from contracts.topics import BECKN_ORDERS, PLACEMENTS
from services.common.beckn import Parties
from services.common.ids import stable_id
from services.common.runner import HandlerRejected
from services.grid_signal.handlers import GridState
from services.grid_signal.handlers import on_select as grid_on_select
from services.planner.handlers import (
    PlannerState,
    on_clock_advanced,
    on_discover_results,
    on_init_terms,
    on_job_submitted,
    on_order_confirmed,
    on_select_quote,
    on_site_registered,
)

from .factories import (
    BAP_ID,
    BAP_URI,
    BPP_ID,
    BPP_URI,
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    EAST_10_14,
    EAST_14_18,
    MANCHESTER,
    MANCHESTER_TXN,
    NW_14_18,
    at,
    beckn,
    cambridge_order,
    cambridge_site,
    env,
    inbound,
    manchester_site,
    seed,
    seed_catalog,
    tick,
)


def _job(job_id: str, start: str, hours: float, deadline: str, *parts: JobPart,
         home: str | None = None) -> JobSubmitted:
    return JobSubmitted(job_id=job_id, name=job_id, home_site=home, earliest_start=at(start),
                        deadline=at(deadline), duration_h=hours, carbon_target_g_per_kwh=150,
                        parts=parts)


BATCH_A = _job("batch-a", "10:00", 6, "16:00",
               JobPart(part_id="core", power_kw=900, gpus=1200, critical=True, migratable=False),
               JobPart(part_id="sweep", power_kw=300, gpus=400, critical=False, migratable=True),
               home=CAMBRIDGE)
BATCH_B = _job("batch-b", "14:00", 4, "18:00",
               JobPart(part_id="main", power_kw=1200, gpus=1600, critical=False, migratable=True))


def _planner(*jobs: JobSubmitted) -> PlannerState:
    st = PlannerState(Parties(BAP_ID, BAP_URI, BPP_ID, BPP_URI), "computecloud", "ComputeCloud",
                      0.0)
    for s in (cambridge_site(), manchester_site()):
        on_site_registered(st, inbound(env(s)))
    for j in jobs or (BATCH_A, BATCH_B):
        on_job_submitted(st, inbound(env(j)))
    return st


def _sent(outs: Any) -> list[BecknMessage]:
    assert all(o.topic == BECKN_ORDERS and o.key == o.value.context.transaction_id for o in outs)
    return [o.value for o in outs]


def _order(msg: BecknMessage) -> Order:
    assert isinstance(msg.message, OrderMessage)
    return msg.message.order


def _discovered(st: PlannerState) -> list[BecknMessage]:
    (discover,) = _sent(on_clock_advanced(st, inbound(tick("08:00"))))
    results = beckn(Action.ON_DISCOVER, discover.context.transaction_id, seed_catalog(),
                    message_id=discover.context.message_id, timestamp=at("08:00"))
    return _sent(on_discover_results(st, inbound(results)))


def test_no_discovery_without_waiting_batches() -> None:
    st = PlannerState(Parties(BAP_ID, BAP_URI, BPP_ID, BPP_URI), "c", "C", 0.0)

    assert on_clock_advanced(st, inbound(tick("08:00"))) == []


def test_waiting_batches_trigger_one_discovery_at_a_time() -> None:
    st = _planner()

    (discover,) = _sent(on_clock_advanced(st, inbound(tick("08:00"))))
    again = on_clock_advanced(st, inbound(tick("08:30")))

    assert discover.context.action == Action.DISCOVER
    assert discover.context.transaction_id == stable_id("discover", at("08:00").isoformat())
    assert discover.context.timestamp == at("08:00")  # event time, not wall time
    assert (discover.context.bap_id, discover.context.bpp_id) == (BAP_ID, BPP_ID)
    assert again == []  # still waiting for on_discover


def test_discovery_results_select_one_order_per_site() -> None:
    cambridge, manchester = _discovered(_planner())

    assert cambridge.context.action == manchester.context.action == Action.SELECT
    assert cambridge.context.transaction_id == CAMBRIDGE_TXN  # stable_id("order", order id)
    assert manchester.context.transaction_id == MANCHESTER_TXN
    c, m = _order(cambridge), _order(manchester)
    assert c.id == "order-cambridge-east-20251117"
    assert c.seller == "gridflex"  # the catalogue's provider
    assert [i.ordered_item for i in c.items] == [EAST_10_14, EAST_14_18]
    assert [i.line_id for i in c.items] == [f"batch-a@{EAST_10_14}", f"batch-a@{EAST_14_18}"]
    first, second = (i.attributes for i in c.items)
    assert (first.slot_start, first.slot_end) == (at("10:00"), at("14:00"))
    assert (second.slot_start, second.slot_end) == (at("14:00"), at("16:00"))
    assert (first.compute_load_kw, first.capacity_kw) == (1200, 1500)  # min(1500 IT, 1500 window)
    assert (first.energy_kwh, second.energy_kwh) == (4800, 2400)  # 1200 kW x 4 h, x 2 h
    assert (first.gpu_hours, second.gpu_hours) == (6400, 3200)  # 1600 GPUs x 4 h, x 2 h
    assert all(i.quantity.unit_quantity == 1200 for i in c.items)
    (only,) = m.items
    assert only.ordered_item == NW_14_18
    assert (only.attributes.site_id, only.attributes.slot_start, only.attributes.slot_end) == (
        MANCHESTER, at("14:00"), at("18:00"))
    assert only.attributes.energy_kwh == 4800  # 1200 kW x 4 h


def test_an_unplaceable_batch_is_recorded_as_refused() -> None:
    nowhere = _job("nowhere", "06:00", 2, "08:00",
                   JobPart(part_id="p", power_kw=10, gpus=1, critical=False, migratable=True))
    st = _planner(nowhere)

    assert _discovered(st) == []
    assert st.refused == {"nowhere": "no site with windows and capacity for its whole run"}
    assert st.in_flight == set()


def test_an_on_discover_for_no_discovery_in_flight_is_rejected() -> None:
    st = _planner()
    stray = beckn(Action.ON_DISCOVER, stable_id("stray"), seed_catalog())

    with pytest.raises(HandlerRejected) as caught:
        on_discover_results(st, inbound(stray))

    assert caught.value.reason == "unexpected_callback"


def test_a_quote_is_initialised_and_terms_are_confirmed() -> None:
    st = _planner()
    cambridge, _ = _discovered(st)
    quote = beckn(Action.ON_SELECT, CAMBRIDGE_TXN, _order(cambridge), timestamp=at("08:00"))

    (init,) = _sent(on_select_quote(st, inbound(quote)))
    terms = beckn(Action.ON_INIT, CAMBRIDGE_TXN, _order(init).model_copy(
        update={"status": OrderStatus.PENDING}), timestamp=at("08:00"))
    (confirm,) = _sent(on_init_terms(st, inbound(terms)))

    assert (init.context.action, confirm.context.action) == (Action.INIT, Action.CONFIRM)
    assert init.context.transaction_id == confirm.context.transaction_id == CAMBRIDGE_TXN
    assert init.context.message_id != confirm.context.message_id
    assert _order(confirm).id == "order-cambridge-east-20251117"
    assert _order(confirm).status == OrderStatus.CREATED


def test_a_refused_quote_stops_the_order_and_records_why() -> None:
    st = _planner()
    cambridge, _ = _discovered(st)
    refusal = beckn(Action.ON_SELECT, CAMBRIDGE_TXN,
                    _order(cambridge).model_copy(update={"status": OrderStatus.REJECTED}),
                    error=("40002", "no capacity"))

    assert on_select_quote(st, inbound(refusal)) == []
    assert st.refused == {"batch-a": "no capacity"}


def test_a_callback_for_an_unknown_transaction_is_rejected() -> None:
    st = _planner()

    with pytest.raises(HandlerRejected) as caught:
        on_select_quote(st, inbound(beckn(Action.ON_SELECT, stable_id("x"), cambridge_order())))

    assert caught.value.reason == "unknown_transaction"


def test_confirmation_schedules_every_part_of_the_batch() -> None:
    st = _planner()
    _discovered(st)
    confirmed = beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN,
                      cambridge_order(OrderStatus.CONFIRMED, confirmed=True),
                      timestamp=at("08:00"))

    outs = on_order_confirmed(st, inbound(confirmed))

    assert all(o.topic == PLACEMENTS and o.key == CAMBRIDGE for o in outs)
    parts = [o.value.payload for o in outs]
    assert all(isinstance(p, PlacementScheduled) for p in parts)
    assert [(p.job_id, p.part_id, p.power_kw, p.critical, p.migratable) for p in parts] == [
        ("batch-a", "core", 900, True, False), ("batch-a", "sweep", 300, False, True)]
    for p in parts:
        assert (p.site_id, p.zone, p.start, p.end) == (CAMBRIDGE, "UK-EAST", at("10:00"),
                                                       at("16:00"))
        assert p.order_capacity_kw == 1500  # the least capacity confirmed on batch-a's lines
        assert (p.order_id, p.transaction_id) == ("order-cambridge-east-20251117", CAMBRIDGE_TXN)
    assert st.confirmed == {CAMBRIDGE_TXN}


def test_a_refused_confirmation_schedules_nothing() -> None:
    st = _planner()
    _discovered(st)
    refused = beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN, cambridge_order(OrderStatus.REJECTED),
                    error=("40002", "gone"))

    assert on_order_confirmed(st, inbound(refused)) == []
    assert st.confirmed == set()


def test_two_batches_sharing_a_window_at_one_site_are_granted() -> None:
    small = [_job(f"small-{i}", "10:00", 4, "14:00",
                  JobPart(part_id="p", power_kw=600, gpus=1, critical=True, migratable=False),
                  home=CAMBRIDGE) for i in (1, 2)]
    st = _planner(*small)
    (select,) = _discovered(st)
    assert len(_order(select).items) == 2  # both batches in the 10-14 window at Cambridge

    (answer,) = grid_on_select(GridState.from_scenario(seed()), inbound(select))

    assert answer.value.error is None  # 1200 kW of load fits the 1500 kW window


def test_a_batch_discovered_later_gets_an_order_of_its_own() -> None:
    st = _planner(BATCH_A)
    (first,) = _discovered(st)
    late = _job("batch-c", "16:00", 2, "18:00",
                JobPart(part_id="p", power_kw=500, gpus=1, critical=True, migratable=False),
                home=CAMBRIDGE)
    on_job_submitted(st, inbound(env(late)))
    (discover,) = _sent(on_clock_advanced(st, inbound(tick("09:00"))))
    results = beckn(Action.ON_DISCOVER, discover.context.transaction_id, seed_catalog(),
                    message_id=discover.context.message_id, timestamp=at("09:00"))

    (later,) = _sent(on_discover_results(st, inbound(results)))

    assert [i.line_id for i in _order(later).items] == [f"batch-c@{EAST_14_18}"]
    assert later.context.transaction_id != first.context.transaction_id
    assert later.context.message_id != first.context.message_id
    assert {r.job_id for r in st.orders[first.context.transaction_id]} == {"batch-a"}
