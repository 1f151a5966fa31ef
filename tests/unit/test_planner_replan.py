"""The planner service re-plans the rest of the day after a stress event, from a mid-day state
worked by hand: work done, where each part runs after the load-shifter's moves, commitments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.beckn.models import (
    Action,
    Catalog,
    Descriptor,
    OnDiscoverMessage,
    OrderMessage,
    TimePeriod,
)
from contracts.compute_energy.vocab import GridStressEvent
from contracts.events import CommandAction, JobPart, SiteCommandIssued
from services.planner.domain import OfferedWindow
from services.planner.handlers import (
    on_clock_advanced,
    on_discover_results,
    on_grid_update,
    on_site_command,
)
from services.planner.placement import (
    Command,
    Run,
    Slots,
    Span,
    build_problem,
    current_plan,
    state_at,
    with_stress,
)

from .factories import (
    BPP_ID,
    BPP_URI,
    CAMBRIDGE,
    MANCHESTER,
    at,
    beckn,
    cambridge_site,
    env,
    inbound,
    manchester_site,
    stress_update,
    tick,
    window_item,
)
from .test_planner_handlers import _job, _planner, _sent

STEP = timedelta(minutes=30)
PART = JobPart(part_id="p", power_kw=400, gpus=500, critical=False, migratable=True)
JOB = _job("j", "10:00", 4, "18:00", PART, home=CAMBRIDGE)  # 1600 kWh by 18:00


def catalog() -> OnDiscoverMessage:
    """Cambridge is cheapest 10-14 (0.100 £/kWh), then 15-16 (0.105); 14-15 and 16-18 cost
    more; Manchester (0.20) never pays. So the 08:00 plan runs j/p at Cambridge 10-14."""
    items = (window_item("e1", "UK-EAST", "10:00", "14:00", 0.100, 40),
             window_item("e2", "UK-EAST", "14:00", "15:00", 0.130, 80),
             window_item("e3", "UK-EAST", "15:00", "16:00", 0.105, 80),
             window_item("e4", "UK-EAST", "16:00", "18:00", 0.140, 80),
             window_item("n1", "UK-NW", "10:00", "18:00", 0.200, 150))
    return OnDiscoverMessage(catalogs=(Catalog(
        id="c", descriptor=Descriptor(name="windows"), provider_id="gridflex", bpp_id=BPP_ID,
        bpp_uri=BPP_URI, validity=TimePeriod(start=at("00:00"), end=at("24:00")), items=items,
        offers=()),))


def planned() -> object:
    st = _planner(JOB)
    st.mode = "optimal"
    (discover,) = _sent(on_clock_advanced(st, inbound(tick("08:00"))))
    results = beckn(Action.ON_DISCOVER, discover.context.transaction_id, catalog(),
                    message_id=discover.context.message_id, timestamp=at("08:00"))
    (select,) = _sent(on_discover_results(st, inbound(results)))
    assert isinstance(select.message, OrderMessage)
    assert [(i.attributes.slot_start, i.attributes.slot_end, i.attributes.compute_load_kw)
            for i in select.message.order.items] == [(at("10:00"), at("14:00"), 400)]
    return st


def stress(start: str, end: str) -> GridStressEvent:
    return GridStressEvent(event_id="s1", grid_zone="UK-EAST", start=at(start), end=at(end),
                           renewable_pct=20, carbon_intensity_g_per_kwh=300,
                           price_delta_gbp_per_kwh=0.5, requested_reduction_kw=400,
                           utilisation_payment_gbp_per_mwh=150)


def command(action: CommandAction, site_id: str, start: str, end: str) -> SiteCommandIssued:
    return SiteCommandIssued(command_id=f"c-{action.value}-{site_id}", site_id=site_id,
                             action=action, power_kw=400, start=at(start), end=at(end),
                             job_id="j", part_id="p", event_id="s1", reason="test")


def test_work_paused_by_a_stress_is_replanned_into_the_cheapest_window_left() -> None:
    """12:00-13:00 the load-shifter pauses j/p (no other site has headroom). At the 13:00 tick
    the planner re-plans from 13:00: j/p ran 10-12 (800 kWh done), 13-14 is still ordered
    (400 kWh, kept), so 400 kWh are missing by 18:00. At Cambridge (where it runs; moving to
    Manchester would cost 0.20 £/kWh plus the transfer) the cheapest hour left is 15-16 at
    0.105 £/kWh (14-15: 0.130, 16-18: 0.140): one new order, one line, 15:00-16:00 at 400 kW."""
    st = planned()
    assert on_grid_update(st, inbound(stress_update(stress("12:00", "13:00")))) == []
    assert on_site_command(st, inbound(env(command(CommandAction.PAUSE_JOB, CAMBRIDGE,
                                                   "12:00", "13:00")))) == []
    assert st.replan_due

    (select,) = _sent(on_clock_advanced(st, inbound(tick("13:00"))))

    assert select.context.action == Action.SELECT
    assert isinstance(select.message, OrderMessage)
    order = select.message.order
    assert order.id == f"order-{CAMBRIDGE}-20251117-2"
    (line,) = order.items
    a = line.attributes
    assert (a.site_id, a.slot_start, a.slot_end, a.compute_load_kw, a.energy_kwh, a.job_ids) \
        == (CAMBRIDGE, at("15:00"), at("16:00"), 400, 400, ("j",))
    assert line.ordered_item == "e3"
    assert a.gpu_hours == pytest.approx(500)  # 500 GPUs for 1 h
    ((when, result),) = st.replans
    assert when == at("13:00") and (result.kept, result.dropped) == (2, ())
    assert not st.replan_due
    assert _sent(on_clock_advanced(st, inbound(tick("13:30")))) == []  # nothing new: no re-plan


def test_a_second_replan_does_not_order_the_same_work_again() -> None:
    """The new order is in flight: it is a commitment now, so a re-plan at 13:30 (say, for a
    later event) adds nothing."""
    st = planned()
    on_grid_update(st, inbound(stress_update(stress("12:00", "13:00"))))
    on_site_command(st, inbound(env(command(CommandAction.PAUSE_JOB, CAMBRIDGE, "12:00",
                                            "13:00"))))
    assert len(_sent(on_clock_advanced(st, inbound(tick("13:00"))))) == 1
    st.replan_due = True
    assert _sent(on_clock_advanced(st, inbound(tick("13:30")))) == []
    _when, again = st.replans[-1]
    # done 800 + 200 kWh; left 600 = 13:30-14:00 (200) + 15:00-16:00 (400), all kept
    assert (again.kept, again.runs) == (1 + 2, ())


def test_a_stress_the_load_shifter_covered_with_a_move_changes_nothing() -> None:
    """The shifter moves j/p to Manchester 12-14 (pause here, start there). At 13:00 j/p has
    done 800 kWh at Cambridge + 400 at Manchester (a shifter move carries no transfer
    energy), is at Manchester, and the 400 kWh left are exactly its 13-14 run there: kept,
    nothing new is ordered."""
    st = planned()
    on_grid_update(st, inbound(stress_update(stress("12:00", "14:00"))))
    on_site_command(st, inbound(env(command(CommandAction.PAUSE_JOB, CAMBRIDGE, "12:00",
                                            "14:00"))))
    on_site_command(st, inbound(env(command(CommandAction.START_JOB, MANCHESTER, "12:00",
                                            "14:00"))))
    assert _sent(on_clock_advanced(st, inbound(tick("13:00")))) == []
    ((_when, result),) = st.replans
    assert (result.kept, result.dropped, result.runs, result.unmet_kwh) == (2, (), (), {})


def test_an_event_that_ends_early_gives_the_paused_hour_back() -> None:
    """The stress is cut to 12:00-12:30 and the load-shifter replaces its 12-13 pause with
    12:00-12:30: at 13:00 j/p has done 800 + 200 kWh (Cambridge 12:30-13:00 ran again), 400
    kWh are ordered 13-14, so 200 kWh are missing: at Cambridge in 15:00-16:00 (0.105 £/kWh;
    which half hour, or both at 200 kW, is a tie)."""
    st = planned()
    on_grid_update(st, inbound(stress_update(stress("12:00", "13:00"))))
    first = command(CommandAction.PAUSE_JOB, CAMBRIDGE, "12:00", "13:00")
    on_site_command(st, inbound(env(first)))
    on_grid_update(st, inbound(stress_update(stress("12:00", "12:30"))))
    assert st.stress["s1"].end == at("12:30")
    cut = first.model_copy(update={"command_id": "c-cut", "end": at("12:30"),
                                   "replaces": first.command_id})
    on_site_command(st, inbound(env(cut)))
    assert list(st.commands) == ["c-cut"]

    (select,) = _sent(on_clock_advanced(st, inbound(tick("13:00"))))
    lines = [i.attributes for i in select.message.order.items]
    assert sum(a.energy_kwh for a in lines) == pytest.approx(200)
    assert all(a.site_id == CAMBRIDGE and at("15:00") <= a.slot_start < a.slot_end <= at("16:00")
               for a in lines)


def test_battery_and_unknown_commands_do_not_trigger_a_replan() -> None:
    st = planned()
    c = SiteCommandIssued(command_id="b", site_id=CAMBRIDGE,
                          action=CommandAction.BATTERY_DISCHARGE, power_kw=100,
                          start=at("12:00"), end=at("13:00"), event_id="s1", reason="test")
    on_site_command(st, inbound(env(c)))
    assert not st.replan_due and st.commands == {}
    assert _sent(on_clock_advanced(st, inbound(tick("13:00")))) == []


# ---- the pure pieces ------------------------------------------------------------------------


def test_current_plan_applies_pauses_and_moves_in_time_order() -> None:
    runs = [Run("j", "p", CAMBRIDGE, at("10:00"), at("16:00"), 300)]
    cmds = [Command("start_job", "j", "p", MANCHESTER, at("14:00"), at("16:00"), 300),
            Command("pause_job", "j", "p", CAMBRIDGE, at("14:00"), at("16:00"), 300),
            Command("pause_job", "j", "p", MANCHESTER, at("15:00"), at("15:30"), 300)]
    assert current_plan(runs, cmds) == [
        Span("j", "p", CAMBRIDGE, at("10:00"), at("14:00"), 300),
        Span("j", "p", MANCHESTER, at("14:00"), at("15:00"), 300, moved=True),
        Span("j", "p", MANCHESTER, at("15:30"), at("16:00"), 300, moved=True)]


def test_state_owes_the_transfer_of_a_part_ordered_away_from_home() -> None:
    """j/p (300 kW, home Cambridge, transfer 0.75 h x 300 = 225 kWh) is ordered at Manchester
    from 14:00. At 14:30 it has drawn 150 kWh there, all transfer: done 0, 75 kWh owed, at
    Manchester; 14:30-16:00 stays committed (300 kW in each half hour)."""
    part = JobPart(part_id="p", power_kw=300, gpus=400, critical=False, migratable=True)
    job = _job("j", "14:00", 2, "18:00", part, home=CAMBRIDGE)
    windows = [OfferedWindow("n", "UK-NW", at("14:00"), at("18:00"), 0.09, 50, 1500)]
    problem, slots = build_problem([job], [cambridge_site(), manchester_site()], windows,
                                   at("14:00"), STEP, 0.0, 0.75)
    spans = [Span("j", "p", MANCHESTER, at("14:00"), at("16:00"), 300)]
    s = state_at(problem, slots, spans, slots.index(at("14:30")))
    assert (s.done_kwh, s.owed_kwh, s.at_site) == ({"j/p": 0.0}, {"j/p": 75.0},
                                                   {"j/p": MANCHESTER})
    assert s.keep == {("j/p", MANCHESTER, 1): 300, ("j/p", MANCHESTER, 2): 300,
                      ("j/p", MANCHESTER, 3): 300}
    moved = state_at(problem, slots, [Span("j", "p", MANCHESTER, at("14:00"), at("16:00"),
                                           300, moved=True)], 1)
    assert (moved.done_kwh, moved.owed_kwh) == ({"j/p": 150.0}, {"j/p": 0.0})


def test_a_stress_sets_its_signal_over_its_span_part_slots_mixed() -> None:
    """An event 14:10-15:00 covers 2/3 of the 14:00 slot and all of the 14:30 one."""
    window = OfferedWindow("e", "UK-EAST", at("14:00"), at("16:00"), 0.12, 60, 1500)
    problem, slots = build_problem([], [cambridge_site()], [window], at("14:00"), STEP, 0.0, 0.5)
    assert slots == Slots(at("14:00"), STEP, 4)
    g = with_stress(problem.grid, slots, "UK-EAST", at("14:10"), at("15:00"), 150, 0.03)
    assert g.price["UK-EAST"] == pytest.approx((0.14, 0.15, 0.12, 0.12))
    assert g.carbon["UK-EAST"] == pytest.approx((120, 150, 60, 60))
    assert g.offered_kw == problem.grid.offered_kw
    assert with_stress(problem.grid, slots, "UK-NW", at("14:00"), at("15:00"), 1, 1) \
        is problem.grid
