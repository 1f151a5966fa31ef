"""The planner's optimal mode: windows and parts to a MILP, its schedule back to orders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.beckn.models import Action, OrderMessage
from contracts.events import JobPart
from services.planner.domain import OfferedWindow
from services.planner.handlers import on_clock_advanced, on_discover_results
from services.planner.optimiser.model import Schedule
from services.planner.placement import Run, Slots, build_problem, lines_of, runs_of

from .factories import (
    CAMBRIDGE,
    MANCHESTER,
    at,
    beckn,
    cambridge_site,
    inbound,
    manchester_site,
    seed_catalog,
    tick,
)
from .test_planner_handlers import BATCH_A, BATCH_B, _job, _planner, _sent

EAST = OfferedWindow("w-east", "UK-EAST", at("10:00"), at("14:00"), 0.10, 36, 1500)
NW = OfferedWindow("w-nw", "UK-NW", at("12:00"), at("14:00"), 0.08, 50, 1000)


def test_the_problem_offers_exactly_the_discovered_windows() -> None:
    job = _job("j", "10:00", 2, "14:00",
               JobPart(part_id="p", power_kw=400, gpus=500, critical=False, migratable=True),
               home=CAMBRIDGE)
    problem, slots = build_problem([job], [cambridge_site(), manchester_site()], [EAST, NW],
                                   at("08:00"), timedelta(minutes=30), 0.0, 0.5)
    g = problem.grid
    assert (slots.start, slots.count) == (at("08:00"), 12)  # 08:00 .. 14:00 in half hours
    assert g.offered_kw["UK-EAST"] == (0,) * 4 + (1500,) * 8  # window 10:00-14:00
    assert g.offered_kw["UK-NW"] == (0,) * 8 + (1000,) * 4  # window 12:00-14:00
    assert g.price["UK-NW"][8] == 0.08
    (opt,) = problem.jobs
    assert opt.job_id == "j/p" and opt.energy_kwh == 800  # 400 kW x 2 h
    assert (opt.earliest_slot, opt.deadline_slot) == (4, 12)
    assert opt.interruptible and opt.migratable
    assert opt.migration_kwh == 200  # 0.5 h of 400 kW, since it has a home


def test_runs_are_contiguous_constant_power_spans() -> None:
    slots = Slots(at("10:00"), timedelta(minutes=30), 8)
    sched = Schedule(run_kw={("j/p", CAMBRIDGE, 0): 400, ("j/p", CAMBRIDGE, 1): 400,
                             ("j/p", CAMBRIDGE, 2): 200, ("j/p", CAMBRIDGE, 5): 200},
                     battery_kw={}, cost_gbp=0, carbon_kg=0, objective=0, unmet_kwh={},
                     status="optimal", solve_s=0)

    assert runs_of(sched, slots) == [
        Run("j", "p", CAMBRIDGE, at("10:00"), at("11:00"), 400),
        Run("j", "p", CAMBRIDGE, at("11:00"), at("11:30"), 200),
        Run("j", "p", CAMBRIDGE, at("12:30"), at("13:00"), 200)]


def test_lines_split_a_window_where_the_total_load_changes() -> None:
    runs = [Run("a", "x", CAMBRIDGE, at("10:00"), at("14:00"), 600),
            Run("b", "y", CAMBRIDGE, at("11:00"), at("12:00"), 300)]
    gpus = {"a/x": 1.0, "b/y": 2.0}

    lines = lines_of(runs, [EAST], {CAMBRIDGE: "UK-EAST"}, gpus)

    assert [(ln.start, ln.end, ln.load_kw, ln.job_ids) for ln in lines] == [
        (at("10:00"), at("11:00"), 600, ("a",)),
        (at("11:00"), at("12:00"), 900, ("a", "b")),
        (at("12:00"), at("14:00"), 600, ("a",))]
    assert lines[1].gpu_hours == pytest.approx(600 * 1.0 + 300 * 2.0)  # 1 h


def test_the_seed_day_is_ordered_as_the_rule_would_but_by_the_milp() -> None:
    # batch-a's core is pinned to Cambridge; its sweep could move, but Manchester's 10-14
    # window costs 0.110 and the move costs 150 kWh, so it stays; batch-b fits only Manchester
    st = _planner(BATCH_A, BATCH_B)
    st.mode = "optimal"
    (discover,) = _sent(on_clock_advanced(st, inbound(tick("08:00"))))
    results = beckn(Action.ON_DISCOVER, discover.context.transaction_id, seed_catalog(),
                    message_id=discover.context.message_id, timestamp=at("08:00"))

    cam, man = _sent(on_discover_results(st, inbound(results)))

    def lines(msg):  # type: ignore[no-untyped-def]
        assert isinstance(msg.message, OrderMessage)
        return [(i.attributes.site_id, i.attributes.slot_start, i.attributes.slot_end,
                 i.attributes.compute_load_kw, i.attributes.gpu_hours, i.attributes.job_ids)
                for i in msg.message.order.items]

    assert lines(cam) == [(CAMBRIDGE, at("10:00"), at("14:00"), 1200, 6400, ("batch-a",)),
                          (CAMBRIDGE, at("14:00"), at("16:00"), 1200, 3200, ("batch-a",))]
    assert lines(man) == [(MANCHESTER, at("14:00"), at("18:00"), 1200, 6400, ("batch-b",))]
    assert st.refused == {}


def test_a_cleaner_cheaper_zone_takes_a_migratable_part_when_the_move_pays() -> None:
    # one migratable 300 kW part with a Cambridge home, 2 h in 14:00-16:00; Cambridge's
    # 14-18 window is £0.102, Manchester's £0.092: 600 kWh x 0.010 = £6 saved, the move costs
    # 0.5 h x 300 kW = 150 kWh (~£14) - it stays; with no migration cost it moves
    part = JobPart(part_id="p", power_kw=300, gpus=400, critical=False, migratable=True)
    for migration_h, site in ((0.5, CAMBRIDGE), (0.0, MANCHESTER)):
        st = _planner(_job("j", "14:00", 2, "16:00", part, home=CAMBRIDGE))
        st.mode, st.migration_h = "optimal", migration_h
        (discover,) = _sent(on_clock_advanced(st, inbound(tick("08:00"))))
        results = beckn(Action.ON_DISCOVER, discover.context.transaction_id, seed_catalog(),
                        message_id=discover.context.message_id, timestamp=at("08:00"))
        (order,) = _sent(on_discover_results(st, inbound(results)))
        assert isinstance(order.message, OrderMessage)
        assert order.message.order.items[0].attributes.site_id == site, migration_h
