"""Forecasts for the evaluation: perfect is the actual series, persistence looks a day back,
noisy is seeded, reproducible and its error grows with the lead time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from services.evaluate.forecasts import (
    DAY_SLOTS,
    Forecaster,
    Signals,
    load_signals,
    noise_sd,
    price_known_until,
)


@pytest.fixture(scope="module")
def week() -> Signals:
    return load_signals(date(2023, 6, 12), 7 * DAY_SLOTS)


def test_load_signals_keeps_history_before_the_start(week: Signals) -> None:
    assert week.history == 3 * DAY_SLOTS
    assert week.zones == ("UK-EAST", "UK-NW")
    assert len(week.horizon_carbon("UK-EAST")) == 7 * DAY_SLOTS
    # The vendored trace: 2023-06-12T00:00Z is 288 / 131 gCO2/kWh (East / North West), the
    # half-hour before it 282 / 143, and 2023-06-11T00:00Z 87 / 18.
    assert (week.horizon_carbon("UK-EAST")[0], week.horizon_carbon("UK-NW")[0]) == (288, 131)
    assert week.carbon["UK-EAST"][week.history - 1] == 282
    assert week.carbon["UK-NW"][week.history - DAY_SLOTS] == 18


def test_history_is_shorter_at_the_start_of_the_traces() -> None:
    assert load_signals(date(2023, 6, 5), 4).history == 0
    assert load_signals(date(2023, 6, 6), 4).history == DAY_SLOTS


def test_perfect_equals_actual(week: Signals) -> None:
    fc = Forecaster(week, "perfect").issue(30)
    for z in week.zones:
        np.testing.assert_array_equal(fc.carbon[z], week.horizon_carbon(z))
        np.testing.assert_array_equal(fc.price[z], week.horizon_price(z))


def test_persistence_is_the_same_time_on_the_latest_past_day(week: Signals) -> None:
    issued = 100
    fc = Forecaster(week, "persistence").issue(issued)
    full, h = week.carbon["UK-NW"], week.history
    actual = week.horizon_carbon("UK-NW")
    np.testing.assert_array_equal(fc.carbon["UK-NW"][:issued], actual[:issued])
    for t in (issued, issued + 1, issued + DAY_SLOTS - 1):  # under a day ahead: yesterday
        assert fc.carbon["UK-NW"][t] == full[h + t - DAY_SLOTS]
    for t in (issued + DAY_SLOTS, issued + 2 * DAY_SLOTS - 1):  # 24-48 h ahead: two days back
        assert fc.carbon["UK-NW"][t] == full[h + t - 2 * DAY_SLOTS]


def test_persistence_at_the_first_slot_reads_the_day_before_the_start(week: Signals) -> None:
    fc = Forecaster(week, "persistence").issue(0)
    np.testing.assert_array_equal(fc.carbon["UK-EAST"][:DAY_SLOTS],
                                  week.carbon["UK-EAST"][week.history - DAY_SLOTS:week.history])


def test_persistence_needs_a_day_of_history() -> None:
    with pytest.raises(ValueError, match="history"):
        Forecaster(load_signals(date(2023, 6, 5), 4), "persistence")


def test_unknown_mode_is_refused(week: Signals) -> None:
    with pytest.raises(ValueError, match="mode"):
        Forecaster(week, "oracle")  # type: ignore[arg-type]


def test_noisy_is_reproducible_from_its_seed(week: Signals) -> None:
    a = Forecaster(week, "noisy", seed=7).issue(40).carbon["UK-EAST"]
    b = Forecaster(week, "noisy", seed=7).issue(40).carbon["UK-EAST"]
    c = Forecaster(week, "noisy", seed=8).issue(40).carbon["UK-EAST"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noisy_does_not_depend_on_the_order_of_issues(week: Signals) -> None:
    f1, f2 = Forecaster(week, "noisy", seed=3), Forecaster(week, "noisy", seed=3)
    f1.issue(5)
    np.testing.assert_array_equal(f1.issue(60).carbon["UK-NW"], f2.issue(60).carbon["UK-NW"])


def test_noisy_keeps_the_past_exact(week: Signals) -> None:
    fc = Forecaster(week, "noisy").issue(50)
    np.testing.assert_array_equal(fc.carbon["UK-NW"][:50], week.horizon_carbon("UK-NW")[:50])
    assert not np.array_equal(fc.carbon["UK-NW"][50:], week.horizon_carbon("UK-NW")[50:])


def test_noise_model_is_calibrated_to_5_percent_at_1h_and_18_at_24h() -> None:
    assert noise_sd(2) == pytest.approx(0.05, rel=1e-6)
    assert noise_sd(48) == pytest.approx(0.18, rel=1e-6)
    assert np.all(np.diff(noise_sd(np.arange(0, 200))) > 0)


def test_noisy_error_grows_with_lead(week: Signals) -> None:
    """Relative errors over many issue times and seeds, at 1 h and at 24 h ahead."""
    leads = {2: [], 48: []}
    n = week.n_slots
    for seed in range(6):
        f = Forecaster(week, "noisy", seed=seed)
        for issued in range(0, n - 48, 4):
            fc = f.issue(issued).carbon["UK-EAST"]
            actual = week.horizon_carbon("UK-EAST")
            for k, errors in leads.items():
                errors.append(fc[issued + k] / actual[issued + k] - 1.0)
    sd1, sd24 = np.std(leads[2]), np.std(leads[48])
    assert 0.03 < sd1 < 0.07
    assert 0.12 < sd24 < 0.25
    assert sd24 > 2.5 * sd1


def test_noisy_forecasts_evolve_rather_than_being_redrawn(week: Signals) -> None:
    """A forecast issued half an hour later for the same slots differs by one revealed
    surprise: the two error paths are nearly the same."""
    f = Forecaster(week, "noisy", seed=2)
    actual = week.horizon_carbon("UK-EAST")
    e0 = f.issue(20).carbon["UK-EAST"][40:120] / actual[40:120] - 1.0
    e1 = f.issue(21).carbon["UK-EAST"][40:120] / actual[40:120] - 1.0
    assert np.corrcoef(e0, e1)[0, 1] > 0.95


def test_published_agile_prices_are_exact_in_every_mode(week: Signals) -> None:
    # Issued 10:00 UTC (11:00 BST) on 12 June: rates known to 23:00 BST = 22:00 UTC that day.
    assert price_known_until(week, 20) == 44
    # Issued 15:00 UTC (16:00 BST): the next day's rates are out, to 22:00 UTC on 13 June.
    assert price_known_until(week, 30) == 44 + DAY_SLOTS
    fc = Forecaster(week, "noisy").issue(20)
    np.testing.assert_array_equal(fc.price["UK-NW"][:44], week.horizon_price("UK-NW")[:44])
    assert not np.array_equal(fc.price["UK-NW"][44:], week.horizon_price("UK-NW")[44:])


def test_price_horizon_rolls_over_at_the_end_of_the_agile_day() -> None:
    sig = Signals(zones=("Z",), start=datetime(2023, 6, 12, tzinfo=UTC), n_slots=96, history=0,
                  carbon={"Z": np.ones(96)}, price={"Z": np.ones(96)})
    assert price_known_until(sig, 44) == 44 + DAY_SLOTS  # 22:00 UTC: next day already out
