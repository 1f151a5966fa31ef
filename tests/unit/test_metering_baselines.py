"""History baselines (DFS, CAISO 10-in-10, high 5 of 10), worked by hand on flat or simple load
profiles, and the validator's verification of the seed event against them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from contracts.beckn.models import Action, OrderStatus
from contracts.events import FlexibilityVerified, MeterDayClosed, MeterReadingRecorded, Verdict
from services.metering_validator.baselines import (
    BaselineRefused,
    History,
    Method,
    Programme,
    accuracy,
    history_baseline,
)
from services.metering_validator.domain import measure, verdict
from services.metering_validator.handlers import (
    ValidatorConfig,
    ValidatorState,
    on_day_closed,
    on_grid_update,
    on_order_confirmed,
    on_reading,
)
from services.metering_validator.holidays import ENGLAND_AND_WALES
from services.metering_validator.periods import (
    LONDON,
    Meter,
    period_starts,
    periods_within,
    wall_time,
)

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    beckn,
    cambridge_order,
    env,
    inbound,
    manchester_order,
    receiving_answer,
    stress_update,
)

EVENT_DAY = date(2025, 11, 17)  # a Monday
DFS = Programme(method=Method.DFS)
CAISO = Programme(method=Method.CAISO_10_IN_10)
HIGH5 = Programme(method=Method.HIGH_5_OF_10)
NO_HOLIDAYS = History(holidays=ENGLAND_AND_WALES)


def local(d: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    if h == 24:
        d, h = d + timedelta(days=1), 0
    return datetime.combine(d, time(h, m), LONDON).astimezone(UTC)


def working_days_before(d: date, n: int) -> list[date]:
    out = []
    while len(out) < n:
        d -= timedelta(days=1)
        if d.weekday() < 5 and d not in ENGLAND_AND_WALES:
            out.append(d)
    return out


def fill(meter: Meter, d: date, kw: float | Callable[[time], float]) -> None:
    """Meter a whole local day, one reading per half hour at `kw` (or kw(local clock time))."""
    for t in period_starts(d, meter.minutes):
        load = kw(wall_time(t)) if callable(kw) else kw
        meter.add(t, t + timedelta(minutes=meter.minutes), load * meter.minutes / 60)


def fill_span(meter: Meter, d: date, start: str, end: str, kw: float) -> None:
    """Meter [start, end) of local day d at a flat `kw`."""
    for t in periods_within(local(d, start), local(d, end), meter.minutes):
        meter.add(t, t + timedelta(minutes=30), kw / 2)


def history(days: Iterable[date], kw: float | Callable[[time], float]) -> Meter:
    meter = Meter(30)
    for d in days:
        fill(meter, d, kw)
    return meter


def event_periods(d: date = EVENT_DAY, start: str = "14:00", end: str = "16:00") -> tuple:
    return periods_within(local(d, start), local(d, end))


# ---- settlement periods ------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "n"), [(date(2026, 3, 29), 46), (date(2026, 3, 30), 48),
                                        (date(2026, 10, 25), 50), (date(2025, 11, 17), 48)])
def test_a_settlement_day_has_46_48_or_50_half_hours(day: date, n: int) -> None:
    assert len(period_starts(day)) == n


# ---- DFS ---------------------------------------------------------------------------------------


def cambridge(pre_event_kw: float = 1200, event_kw: float = 750) -> Meter:
    """Ten working days at a flat 1,200 kW, then the event day: `pre_event_kw` to 14:00,
    `event_kw` over the 14:00-16:00 event."""
    meter = history(working_days_before(EVENT_DAY, 10), 1200)
    fill_span(meter, EVENT_DAY, "00:00", "14:00", pre_event_kw)
    fill_span(meter, EVENT_DAY, "14:00", "16:00", event_kw)
    return meter


def test_dfs_cambridge_1200_baseline_750_metered_over_two_hours_delivers_0_90_mwh() -> None:
    meter = cambridge()
    periods = event_periods()

    base = history_baseline(meter, periods, DFS, NO_HOLIDAYS)
    m = measure(meter, periods, base)

    assert base.kwh == (600,) * 4  # 1,200 kW for half an hour, in each of the four periods
    assert base.days == tuple(working_days_before(EVENT_DAY, 10))
    assert base.days[0] == date(2025, 11, 14) and base.days[-1] == date(2025, 11, 3)
    assert base.adjustment_kwh == 0  # 11:00-14:00 metered exactly the baseline
    assert m.delivered_kwh == 900  # (1,200 - 750) kW x 2 h = 0.90 MWh
    assert verdict(m.delivered_kw, 450) == (100.0, Verdict.DELIVERED)


def test_dfs_in_day_adjustment_adds_the_pre_event_difference() -> None:
    meter = cambridge(pre_event_kw=1300)  # 100 kW above the baseline in the 3 h before

    base = history_baseline(meter, event_periods(), DFS, NO_HOLIDAYS)

    assert base.adjustment_kwh == 50  # +100 kW for half an hour
    assert base.kwh == (650,) * 4
    assert base.uplift == pytest.approx(100 / 1200)  # below the 20% gaming limit
    assert not base.gaming


def test_dfs_adjustment_is_off_for_batteries() -> None:
    base = history_baseline(cambridge(pre_event_kw=1300), event_periods(), DFS, NO_HOLIDAYS,
                            battery=True)

    assert (base.adjustment_kwh, base.kwh) == (0, (600,) * 4)
    assert "battery: no in-day adjustment" in base.notes


def test_a_pre_event_ramp_is_flagged_as_gaming_and_earns_no_upward_adjustment() -> None:
    meter = history(working_days_before(EVENT_DAY, 10), 1000)
    fill_span(meter, EVENT_DAY, "00:00", "11:00", 1000)
    for i, kw in enumerate((1100, 1200, 1300, 1400, 1500, 1600)):  # ramp 11:00 -> 14:00
        t = local(EVENT_DAY, "11:00") + timedelta(minutes=30 * i)
        meter.add(t, t + timedelta(minutes=30), kw / 2)
    fill_span(meter, EVENT_DAY, "14:00", "16:00", 1000)  # back to normal: no real response

    base = history_baseline(meter, event_periods(), DFS, NO_HOLIDAYS)
    m = measure(meter, event_periods(), base)

    assert base.uplift == pytest.approx(0.35)  # mean 1,350 kW over a 1,000 kW baseline
    assert base.gaming
    assert base.adjustment_kwh == 0  # the +350 kW adjustment is refused
    assert m.delivered_kwh == 0  # (without the check: +350 kW x 2 h = 700 kWh "delivered")
    assert verdict(m.delivered_kw, 450)[1] == Verdict.FAILED


def test_negative_delivery_fails() -> None:
    meter = cambridge(event_kw=1300)

    m = measure(meter, event_periods(), history_baseline(meter, event_periods(), DFS,
                                                          NO_HOLIDAYS))

    assert m.delivered_kwh == -200  # (1,200 - 1,300) kW x 2 h
    pct, v = verdict(m.delivered_kw, 450)
    assert v == Verdict.FAILED
    assert pct == pytest.approx(-22.222, abs=1e-3)  # -100 / 450


# ---- eligibility -------------------------------------------------------------------------------


def test_too_few_eligible_days_refuses_the_dfs_baseline() -> None:
    meter = history(working_days_before(EVENT_DAY, 7), 1200)

    with pytest.raises(BaselineRefused, match="7 eligible working days in the last 45 < 10"):
        history_baseline(meter, event_periods(), DFS, NO_HOLIDAYS)


def test_ten_in_ten_accepts_as_few_as_five_days() -> None:
    meter = history(working_days_before(EVENT_DAY, 5), 1200)

    assert history_baseline(meter, event_periods(), CAISO, NO_HOLIDAYS).kwh == (600,) * 4
    with pytest.raises(BaselineRefused, match="4 eligible"):
        history_baseline(history(working_days_before(EVENT_DAY, 4), 1200), event_periods(),
                         CAISO, NO_HOLIDAYS)


def test_event_days_outages_gaps_weekends_and_holidays_are_skipped() -> None:
    days = working_days_before(EVENT_DAY, 14)
    meter = history(days, 1200)
    fill(meter, date(2025, 11, 15), 9999)  # a Saturday: not a working day
    gap = days[2]
    del meter.periods[int(local(gap, "03:00").timestamp())]  # a missing reading: an outage
    hist = History(holidays=ENGLAND_AND_WALES, event_days={days[0]}, outage_days={days[5]})

    base = history_baseline(meter, event_periods(), DFS, hist)

    assert base.days == tuple(d for d in days if d not in (days[0], gap, days[5]))[:10]
    assert base.kwh == (600,) * 4


def test_bank_holidays_are_not_working_days() -> None:
    # Tuesday 27 May 2025 follows the Spring bank holiday (Monday 26 May)
    event_day = date(2025, 5, 27)
    meter = history([event_day - timedelta(days=k) for k in range(1, 30)], 1000)
    fill(meter, date(2025, 5, 26), 5000)

    base = history_baseline(meter, event_periods(event_day), CAISO, History(ENGLAND_AND_WALES))

    assert date(2025, 5, 26) not in base.days
    assert base.days[0] == date(2025, 5, 23)  # the Friday before
    assert base.kwh == (500,) * 4


# ---- clock changes -----------------------------------------------------------------------------


def afternoon_peak(w: time) -> float:
    """1,200 kW from 14:00 to 16:00 local clock time, 800 kW otherwise."""
    return 1200 if time(14) <= w < time(16) else 800


def test_history_across_the_spring_clock_change_is_matched_by_local_clock_time() -> None:
    event_day = date(2026, 3, 31)  # Tuesday after BST began (Sunday 29 March)
    meter = history(working_days_before(event_day, 10), afternoon_peak)  # 8 of them in GMT

    base = history_baseline(meter, event_periods(event_day), CAISO, History(ENGLAND_AND_WALES))

    assert base.kwh == (600,) * 4  # 1,200 kW at 14:00-16:00 BST, not GMT


def test_an_event_on_the_autumn_long_day_uses_the_clock_hour_for_both_01_00s() -> None:
    # Sunday 25 October 2026 has 50 periods: 01:00-02:00 BST, then 01:00-02:00 GMT
    weekend = [date(2026, 10, 24), date(2026, 10, 18), date(2026, 10, 17), date(2026, 10, 11)]
    meter = history(weekend, lambda w: 1000 if w.hour == 1 else 500)
    periods = periods_within(datetime(2026, 10, 25, 0, tzinfo=UTC),
                             datetime(2026, 10, 25, 2, tzinfo=UTC))  # both 01:00 hours

    base = history_baseline(meter, periods, DFS, History(ENGLAND_AND_WALES))

    assert [wall_time(p) for p in periods] == [time(1), time(1, 30)] * 2
    assert base.days == tuple(weekend)  # a weekend event: the last 4 non-working days
    assert base.kwh == (500,) * 4  # 1,000 kW for half an hour, all four periods


def test_a_short_spring_day_cannot_stand_in_for_the_hour_it_lacks() -> None:
    event_day = date(2026, 4, 5)  # Easter Sunday, 01:00-02:00
    candidates = [date(2026, 4, 4), date(2026, 4, 3), date(2026, 3, 29), date(2026, 3, 28),
                  date(2026, 3, 22)]  # Sat, Good Friday, short Sunday, Sat, Sun
    meter = history(candidates, 1000)

    base = history_baseline(meter, event_periods(event_day, "01:00", "02:00"), CAISO,
                            History(ENGLAND_AND_WALES))

    assert base.days == (date(2026, 4, 4), date(2026, 4, 3), date(2026, 3, 28),
                         date(2026, 3, 22))  # 29 March has no 01:00


# ---- high 5 of 10, 10-in-10, accuracy ----------------------------------------------------------


def ramp_history() -> Meter:
    """Ten working days at 1,000, 1,100, ..., 1,900 kW (most recent the highest)."""
    meter = Meter(30)
    for i, d in enumerate(reversed(working_days_before(EVENT_DAY, 10))):
        fill(meter, d, 1000 + 100 * i)
    return meter


def test_high_5_of_10_averages_the_five_highest_days() -> None:
    base = history_baseline(ramp_history(), event_periods(), HIGH5, NO_HOLIDAYS)

    assert base.kwh == (850,) * 4  # mean(1,500 .. 1,900) = 1,700 kW for half an hour
    assert base.days == tuple(working_days_before(EVENT_DAY, 5))


def test_ten_in_ten_averages_all_ten_days() -> None:
    base = history_baseline(ramp_history(), event_periods(), CAISO, NO_HOLIDAYS)

    assert base.kwh == (725,) * 4  # mean(1,000 .. 1,900) = 1,450 kW


def test_accuracy_is_the_rrmse_on_non_event_days() -> None:
    days = working_days_before(EVENT_DAY, 25)
    meter = Meter(30)
    for i, d in enumerate(days):
        fill(meter, d, 800 if i % 2 else 1700)  # alternate days: every 10-day mean is 1,250
    base = history_baseline(meter, event_periods(), CAISO, NO_HOLIDAYS)

    rrmse, tested = accuracy(meter, event_periods(), CAISO, NO_HOLIDAYS, base.days)

    assert tested == 10
    assert rrmse == pytest.approx(450 / 1250)  # every error is 450 kW; mean metered 1,250 kW


def test_a_flat_history_is_perfectly_accurate() -> None:
    meter = history(working_days_before(EVENT_DAY, 25), 1200)

    assert accuracy(meter, event_periods(), DFS, NO_HOLIDAYS,
                    working_days_before(EVENT_DAY, 10)) == (0.0, 10)


# ---- the validator with a DFS programme --------------------------------------------------------


def _feed(st: ValidatorState, site: str, d: date, start: str, end: str,
          kw: float) -> list[FlexibilityVerified]:
    outs: list[Any] = []
    for t in periods_within(local(d, start), local(d, end)):
        kwh = kw / 2
        r = MeterReadingRecorded(site_id=site, start=t, end=t + timedelta(minutes=30),
                                 import_kwh=kwh, load_kwh=kwh, battery_discharge_kwh=0)
        outs += on_reading(st, inbound(env(r)))
    return [o.value.payload for o in outs]


@pytest.fixture
def dfs_day() -> ValidatorState:
    """Cambridge 1,200 kW and Manchester 800 kW on ten working days; the event day until 14:00."""
    st = ValidatorState(ValidatorConfig(programmes={"UK-EAST": DFS}))
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                       (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, order)))
    for d in working_days_before(EVENT_DAY, 10):
        _feed(st, CAMBRIDGE, d, "00:00", "24:00", 1200)
        _feed(st, MANCHESTER, d, "00:00", "24:00", 800)
    for site, kw in ((CAMBRIDGE, 1200), (MANCHESTER, 800)):
        _feed(st, site, EVENT_DAY, "00:00", "14:00", kw)
    on_grid_update(st, inbound(stress_update()))
    on_grid_update(st, inbound(receiving_answer(accepted=True)))
    return st


def test_the_validator_nets_manchesters_0_60_mwh_increase_off_cambridges_0_90_mwh(
        dfs_day: ValidatorState) -> None:
    assert _feed(dfs_day, CAMBRIDGE, EVENT_DAY, "14:00", "16:00", 750) == []

    (v,) = _feed(dfs_day, MANCHESTER, EVENT_DAY, "14:00", "16:00", 1100)

    assert (v.baseline_method, v.baseline_kw, v.metered_kw) == ("dfs", 1200, 750)
    assert (v.delivered_kwh, v.delivered_pct, v.verdict) == (900, 100, Verdict.DELIVERED)
    assert v.baseline_days == tuple(working_days_before(EVENT_DAY, 10))
    (m,) = v.receiving
    assert (m.site_id, m.baseline_kw, m.metered_kw, m.increase_kwh) == (MANCHESTER, 800, 1100,
                                                                        600)
    assert v.net_system_kwh == 300  # 0.90 MWh - 0.60 MWh
    assert v.net_system_kw == 150
    assert (v.rrmse_pct, v.accuracy_days, v.accuracy_flagged) == (None, 0, False)
    assert "baseline accuracy unknown: no test day had enough history" in v.reasons
    assert [i.delivered_kwh for i in v.intervals] == [225] * 4


def test_a_refused_baseline_fails_the_event_with_its_reason() -> None:
    st = ValidatorState(ValidatorConfig(programmes={"UK-EAST": DFS}))
    on_grid_update(st, inbound(stress_update()))

    (v,) = _feed(st, CAMBRIDGE, EVENT_DAY, "14:00", "16:00", 750)

    assert v.baseline_refused
    assert (v.verdict, v.delivered_kwh) == (Verdict.FAILED, 0)
    assert v.reasons == (
        "baseline refused: dfs: 0 eligible working days in the last 45 < 10 required",)


def test_a_closed_day_verifies_an_event_whose_last_readings_never_came(
        dfs_day: ValidatorState) -> None:
    _feed(dfs_day, CAMBRIDGE, EVENT_DAY, "14:00", "15:30", 750)  # 15:30-16:00 missing
    _feed(dfs_day, MANCHESTER, EVENT_DAY, "14:00", "16:00", 1100)
    start, end = local(EVENT_DAY, "00:00"), local(EVENT_DAY + timedelta(days=1), "00:00")
    closed = MeterDayClosed(site_id=CAMBRIDGE, day_start=start, day_end=end, readings=47)

    (v,) = [o.value.payload for o in on_day_closed(dfs_day, inbound(env(closed)))]

    assert v.missing_intervals == 1
    assert v.delivered_kwh == 675  # three half hours of 225 kWh; the missing one credits 0
    assert (v.delivered_pct, v.verdict) == (75, Verdict.PARTIAL)  # 337.5 kW of 450


def test_readings_older_than_twice_the_lookback_are_forgotten() -> None:
    st = ValidatorState(ValidatorConfig(programmes={"UK-EAST": DFS}))  # lookback 45 days
    first = date(2025, 11, 3)  # this and the later days below are all GMT
    _feed(st, CAMBRIDGE, first, "00:00", "01:00", 1000)
    _feed(st, CAMBRIDGE, first + timedelta(days=80), "00:00", "01:00", 1000)
    assert len(st.meters[CAMBRIDGE].periods) == 4  # 80 days < 2 x 45 + 2: kept

    _feed(st, CAMBRIDGE, first + timedelta(days=93), "00:00", "01:00", 1000)

    assert sorted(st.meters[CAMBRIDGE].periods) == [
        int(local(first + timedelta(days=k), hhmm).timestamp())
        for k in (80, 93) for hhmm in ("00:00", "00:30")]  # 3 November forgotten
    assert ValidatorConfig().retention_s == 2 * 86_400  # nominated only: no history needed
