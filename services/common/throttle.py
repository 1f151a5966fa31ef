"""Rate limit for a log line that can repeat per record (dead letters): in each interval the
first `burst` occurrences of a key are logged in full, the rest only counted and reported as
one summary when the interval is over. Pure: the clock is a parameter, nothing is logged here."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogThrottle:
    """Admits up to `burst` lines per key per interval; counts the rest for `summary`.

    The interval starts at construction and restarts at every summary taken, so the caller
    must ask for `summary()` regularly (the runner does after every poll); until then the
    keys that used up their burst stay muted.
    """

    def __init__(self, burst: int = 5, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 0:
            raise ValueError(f"burst must be >= 0, got {burst}")
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.burst = burst
        self.interval_s = interval_s
        self._clock = clock
        self._since = clock()
        self._logged: dict[str, int] = {}
        self._muted: dict[str, int] = {}

    def admit(self, key: str) -> bool:
        """True when this occurrence of `key` is to be logged in full; else it is counted."""
        n = self._logged.get(key, 0)
        if n < self.burst:
            self._logged[key] = n + 1
            return True
        self._muted[key] = self._muted.get(key, 0) + 1
        return False

    def summary(self, force: bool = False) -> tuple[float, dict[str, int]] | None:
        """Once the interval is over (or when `force`d): the seconds it lasted and how many
        occurrences per key were not logged in it (sorted by key), and a new interval starts
        with a fresh burst for every key. None when the interval is still running, or when it
        is over and nothing was muted (the interval then restarts all the same)."""
        now = self._clock()
        elapsed = now - self._since
        if not force and elapsed < self.interval_s:
            return None
        muted, self._muted = self._muted, {}
        self._logged.clear()
        self._since = now
        if not muted:
            return None
        return elapsed, dict(sorted(muted.items()))
