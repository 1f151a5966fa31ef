"""The dead-letter log throttle: first `burst` per key per interval in full, the rest counted."""

from __future__ import annotations

import pytest

from services.common.throttle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_burst_per_key_is_admitted_and_the_rest_counted() -> None:
    clock = Clock()
    t = LogThrottle(burst=2, interval_s=60, clock=clock)
    got = [t.admit(k) for k in ("a", "a", "b", "a", "a", "b", "b", "b", "a")]
    assert got == [True, True, True, False, False, True, False, False, False]
    clock.now += 59.9
    assert t.summary() is None  # the interval is not over
    clock.now += 0.1
    assert t.summary() == (60.0, {"a": 3, "b": 2})


def test_a_summary_restarts_the_interval_with_a_fresh_burst() -> None:
    clock = Clock()
    t = LogThrottle(burst=1, interval_s=10, clock=clock)
    assert [t.admit("x"), t.admit("x")] == [True, False]
    clock.now += 12
    assert t.summary() == (12.0, {"x": 1})
    assert t.summary() is None  # counts were handed out once
    assert [t.admit("x"), t.admit("x"), t.admit("x")] == [True, False, False]
    clock.now += 9
    assert t.summary() is None
    clock.now += 1
    assert t.summary() == (10.0, {"x": 2})


def test_an_interval_without_muted_lines_gives_no_summary_but_restarts() -> None:
    clock = Clock()
    t = LogThrottle(burst=3, interval_s=5, clock=clock)
    assert all(t.admit("x") for _ in range(3))
    clock.now += 5
    assert t.summary() is None
    assert all(t.admit("x") for _ in range(3))  # the burst is fresh again
    assert not t.admit("x")


def test_force_summarises_before_the_interval_is_over() -> None:
    clock = Clock()
    t = LogThrottle(burst=0, interval_s=60, clock=clock)
    assert not any(t.admit(k) for k in ("z", "y", "z"))
    clock.now += 1.5
    assert t.summary(force=True) == (1.5, {"y": 1, "z": 2})  # sorted by key
    assert t.summary(force=True) is None


@pytest.mark.parametrize(("burst", "interval_s"), [(-1, 60.0), (5, 0.0), (5, -1.0)])
def test_nonsense_limits_are_refused(burst: int, interval_s: float) -> None:
    with pytest.raises(ValueError):
        LogThrottle(burst, interval_s)
