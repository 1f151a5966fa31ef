"""CompFlex's placement rule: each batch whole, at the cheapest feasible site, home first."""

from __future__ import annotations

import pytest

from contracts.events import JobPart, JobSubmitted
from services.grid_signal.domain import offered_windows
from services.planner.domain import OfferedWindow, plan_placements

from .factories import (
    CAMBRIDGE,
    EAST_10_14,
    EAST_14_18,
    MANCHESTER,
    NW_14_18,
    at,
    cambridge_site,
    manchester_site,
    seed,
    site,
)


def _seed_windows() -> list[OfferedWindow]:
    return [OfferedWindow(w.item_id, w.zone, w.start, w.end, w.price_gbp_per_kwh,
                          w.carbon_g_per_kwh, w.capacity_kw) for w in offered_windows(seed())]


def _window(item_id: str, zone: str, start: str, end: str, price: float, carbon: float = 100,
            capacity_kw: float = 1500) -> OfferedWindow:
    return OfferedWindow(item_id, zone, at(start), at(end), price, carbon, capacity_kw)


def _part(part_id: str, kw: float, *, critical: bool = False,
          migratable: bool = True) -> JobPart:
    return JobPart(part_id=part_id, power_kw=kw, gpus=1, critical=critical,
                   migratable=migratable)


def _job(job_id: str, start: str, hours: float, *parts: JobPart, home: str | None = None,
         deadline: str = "24:00") -> JobSubmitted:
    return JobSubmitted(job_id=job_id, name=job_id, home_site=home, earliest_start=at(start),
                        deadline=at(deadline), duration_h=hours, carbon_target_g_per_kwh=150,
                        parts=parts)


def _batch_a() -> JobSubmitted:
    return _job("batch-a", "10:00", 6, _part("core", 900, critical=True, migratable=False),
                _part("sweep", 300), home=CAMBRIDGE, deadline="16:00")


def _batch_b() -> JobSubmitted:
    return _job("batch-b", "14:00", 4, _part("main", 1200), deadline="18:00")


def test_the_seed_day_places_batch_a_at_home_and_batch_b_in_manchester() -> None:
    plan = plan_placements([_batch_b(), _batch_a()], [manchester_site(), cambridge_site()],
                           _seed_windows(), 0.0)

    assert plan.unplaced == ()
    a, b = plan.placements  # in order of earliest start
    assert (a.job.job_id, a.site.site_id, a.start, a.end) == ("batch-a", CAMBRIDGE, at("10:00"),
                                                              at("16:00"))
    assert [(g.window.item_id, g.start, g.end) for g in a.segments] == [
        (EAST_10_14, at("10:00"), at("14:00")), (EAST_14_18, at("14:00"), at("16:00"))]
    assert a.score_gbp == pytest.approx(734.4)  # 1200 kW x (4 h + 2 h) x £0.102
    assert (b.job.job_id, b.site.site_id) == ("batch-b", MANCHESTER)
    assert [(g.window.item_id, g.start, g.end) for g in b.segments] == [
        (NW_14_18, at("14:00"), at("18:00"))]
    assert b.score_gbp == pytest.approx(441.6)  # 1200 kW x 4 h x £0.092


def test_capacity_taken_by_an_earlier_batch_sends_the_next_one_elsewhere() -> None:
    # Cambridge's afternoon is made the cheaper one, so only capacity can keep batch-b out
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10),
               _window(EAST_14_18, "UK-EAST", "14:00", "18:00", 0.05),
               _window(NW_14_18, "UK-NW", "14:00", "18:00", 0.09)]
    sites = [cambridge_site(), manchester_site()]

    alone = plan_placements([_batch_b()], sites, windows, 0.0)
    after_a = plan_placements([_batch_a(), _batch_b()], sites, windows, 0.0)

    assert alone.placements[0].site.site_id == CAMBRIDGE  # 1200 x 4 x 0.05 = £240 < £432
    # batch-a holds 1200 of the 14-18 window's 1500 kW until 16:00: 300 kW left < 1200
    assert [(p.job.job_id, p.site.site_id) for p in after_a.placements] == [
        ("batch-a", CAMBRIDGE), ("batch-b", MANCHESTER)]


def test_window_capacity_alone_can_refuse_a_site() -> None:
    big_site = site(CAMBRIDGE, "UK-EAST", it_capacity_kw=5000)
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10, capacity_kw=1500),
               _window("nw", "UK-NW", "10:00", "14:00", 0.20, capacity_kw=1500)]
    first = _job("first", "10:00", 4, _part("p", 1000))
    second = _job("second", "10:00", 4, _part("p", 600))

    plan = plan_placements([first, second], [big_site, manchester_site()], windows, 0.0)

    # the site has 5000 kW but the window only 1500: 1000 + 600 > 1500
    assert [(p.job.job_id, p.site.site_id) for p in plan.placements] == [
        ("first", CAMBRIDGE), ("second", MANCHESTER)]


def test_site_it_capacity_alone_can_refuse_a_site() -> None:
    small = site(CAMBRIDGE, "UK-EAST", it_capacity_kw=1000)
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10, capacity_kw=5000)]

    plan = plan_placements([_job("big", "10:00", 4, _part("p", 1200))], [small], windows, 0.0)

    assert plan.placements == ()
    assert plan.unplaced == (("big", "no site with windows and capacity for its whole run"),)


def test_a_pinned_batch_with_no_home_site_is_unplaced() -> None:
    pinned = _job("pinned", "10:00", 4, _part("p", 100, migratable=False))

    plan = plan_placements([pinned], [cambridge_site(), manchester_site()], _seed_windows(), 0.0)

    assert plan.placements == ()
    assert plan.unplaced == (("pinned", "has non-migratable parts but no home site"),)


def test_a_batch_no_window_covers_is_unplaced_with_a_reason() -> None:
    early = _job("early", "06:00", 4, _part("p", 100))  # 06:00-10:00: nothing is on offer

    plan = plan_placements([early], [cambridge_site(), manchester_site()], _seed_windows(), 0.0)

    assert plan.unplaced == (("early", "no site with windows and capacity for its whole run"),)


def test_a_gap_between_windows_breaks_coverage() -> None:
    windows = [_window("w1", "UK-EAST", "10:00", "12:00", 0.1),
               _window("w2", "UK-EAST", "13:00", "16:00", 0.1)]

    plan = plan_placements([_job("j", "10:00", 4, _part("p", 100))], [cambridge_site()],
                           windows, 0.0)

    assert [u[0] for u in plan.unplaced] == ["j"]  # 12:00-13:00 is not covered


def test_a_run_that_outlasts_the_last_window_is_unplaced() -> None:
    plan = plan_placements([_job("late", "16:00", 4, _part("p", 100))],
                           [cambridge_site(), manchester_site()], _seed_windows(), 0.0)

    assert [u[0] for u in plan.unplaced] == ["late"]  # 16:00-20:00, windows end at 18:00


def test_a_pinned_batch_stays_home_even_when_elsewhere_is_cheaper() -> None:
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.20),
               _window("nw", "UK-NW", "10:00", "14:00", 0.05)]
    job = _job("a", "10:00", 4, _part("core", 900, critical=True, migratable=False),
               _part("sweep", 300), home=CAMBRIDGE)

    plan = plan_placements([job], [cambridge_site(), manchester_site()], windows, 0.0)

    assert plan.placements[0].site.site_id == CAMBRIDGE
    assert plan.placements[0].score_gbp == pytest.approx(960.0)  # 1200 x 4 h x £0.20


def test_a_migratable_batch_leaves_home_for_a_cheaper_site() -> None:
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10),
               _window("nw", "UK-NW", "10:00", "14:00", 0.09)]
    job = _job("a", "10:00", 4, _part("p", 1000), home=CAMBRIDGE)

    plan = plan_placements([job], [cambridge_site(), manchester_site()], windows, 0.0)

    assert plan.placements[0].site.site_id == MANCHESTER  # £360 < £400 at home


def test_a_tie_goes_home_first_then_to_the_lower_site_id() -> None:
    windows = [_window("a-w", "ZA", "10:00", "14:00", 0.10),
               _window("b-w", "ZB", "10:00", "14:00", 0.10),
               _window("c-w", "ZC", "10:00", "14:00", 0.10)]
    sites = [site("site-c", "ZC"), site("site-b", "ZB"), site("site-a", "ZA")]

    homed = plan_placements([_job("j", "10:00", 4, _part("p", 100), home="site-b")], sites,
                            windows, 0.0)
    homeless = plan_placements([_job("j", "10:00", 4, _part("p", 100))], sites, windows, 0.0)

    assert homed.placements[0].site.site_id == "site-b"
    assert homeless.placements[0].site.site_id == "site-a"


def test_the_carbon_price_can_tip_the_choice() -> None:
    # per kWh: east 0.100 + 100 g x £p/t, nw 0.095 + 200 g x £p/t
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.100, carbon=100),
               _window("nw", "UK-NW", "10:00", "14:00", 0.095, carbon=200)]
    sites = [cambridge_site(), manchester_site()]
    job = _job("j", "10:00", 4, _part("p", 1000))

    free = plan_placements([job], sites, windows, 0.0)
    priced = plan_placements([job], sites, windows, 100.0)

    assert free.placements[0].site.site_id == MANCHESTER  # £380 < £400
    assert priced.placements[0].site.site_id == CAMBRIDGE
    # 1000 kW x 4 h x (0.100 + 100 g x £100/t / 1e6) = 4000 x 0.110 = £440 (< £460 in NW)
    assert priced.placements[0].score_gbp == pytest.approx(440.0)


def test_batches_are_placed_in_order_of_earliest_start() -> None:
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10, capacity_kw=1000)]
    late = _job("a-late", "11:00", 2, _part("p", 600))
    early = _job("z-early", "10:00", 4, _part("p", 600))

    plan = plan_placements([late, early], [site(CAMBRIDGE, "UK-EAST", 5000)], windows, 0.0)

    # z-early starts first so takes 600 of 1000 kW; a-late's 600 no longer fits
    assert [p.job.job_id for p in plan.placements] == ["z-early"]
    assert [u[0] for u in plan.unplaced] == ["a-late"]


def test_a_run_starts_at_its_earliest_start_inside_a_window() -> None:
    windows = [_window(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.10),
               _window(EAST_14_18, "UK-EAST", "14:00", "18:00", 0.20)]

    plan = plan_placements([_job("j", "12:30", 3, _part("p", 100))], [cambridge_site()],
                           windows, 0.0)

    (p,) = plan.placements
    assert [(g.start, g.end, g.hours) for g in p.segments] == [
        (at("12:30"), at("14:00"), 1.5), (at("14:00"), at("15:30"), 1.5)]
    assert p.score_gbp == pytest.approx(45.0)  # 100 kW x (1.5 h x 0.10 + 1.5 h x 0.20)
