"""What the planner may know at decision time: the actual zone signals, and forecasts of them
issued at a slot (perfect, persistence, or noisy with error growing with lead time).

Decisions are taken on a forecast; every schedule is scored on the actual series.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from scipy.signal import lfilter

from services.grid_signal.sources import load_june_2023
from services.grid_signal.sources.trace_csv import JUNE_2023_START

Mode = Literal["perfect", "persistence", "noisy"]
MODES: tuple[Mode, ...] = ("perfect", "persistence", "noisy")

SLOT = timedelta(minutes=30)
DAY_SLOTS = 48

# Noisy forecasts: actual x (1 + e_k) at lead k slots, e an AR(1) along the lead:
#   e_0 = s * eps_0,  e_k = PHI * e_{k-1} + s * eps_k,  s = SIGMA_INF * sqrt(1 - PHI^2),
# so sd(e_k) = SIGMA_INF * sqrt(1 - PHI^(2(k+1))). PHI and SIGMA_INF are solved from two
# calibration points, sd = 5% at 1 h (k = 2) and 18% at 24 h (k = 48); the error then saturates
# towards SIGMA_INF (21% at 36 h). See README.md for the sources of those magnitudes.
NOISE_PHI = 0.9947446268944471
NOISE_SIGMA_INF = 0.2834290148554235
NOISE_FLOOR = 0.05
"""A noisy forecast never falls below this fraction of the actual value (keeps it positive)."""

AGILE_PUBLISH_LOCAL_HOUR = 16
AGILE_DAY_END_LOCAL_HOUR = 23
UK = ZoneInfo("Europe/London")


def noise_sd(lead_slots: int | np.ndarray) -> np.ndarray:
    """Standard deviation of the noisy mode's relative error at a lead of k slots (k >= 0)."""
    k = np.asarray(lead_slots, dtype=float)
    return NOISE_SIGMA_INF * np.sqrt(1.0 - NOISE_PHI ** (2.0 * (k + 1.0)))


@dataclass(frozen=True)
class Signals:
    """Actual per-zone carbon (gCO2/kWh) and price (£/kWh) on a half-hour grid: ``history``
    slots before ``start`` and ``n_slots`` from it. Arrays are indexed from the first history
    slot; ``carbon_at``/``price_at`` take horizon slots (negative = history)."""

    zones: tuple[str, ...]
    start: datetime
    n_slots: int
    history: int
    carbon: Mapping[str, np.ndarray]
    price: Mapping[str, np.ndarray]
    slot_hours: float = 0.5

    def horizon_carbon(self, zone: str) -> np.ndarray:
        return self.carbon[zone][self.history:]

    def horizon_price(self, zone: str) -> np.ndarray:
        return self.price[zone][self.history:]


def load_signals(start: date | datetime, n_slots: int, *, history_days: int = 3) -> Signals:
    """The June 2023 traces from ``start`` for ``n_slots`` half-hours, with up to
    ``history_days`` of history before it (less when the traces begin sooner)."""
    t0 = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day,
                                                            tzinfo=JUNE_2023_START.tzinfo)
    history = int(min(history_days * DAY_SLOTS, (t0 - JUNE_2023_START) / SLOT))
    series = load_june_2023(t0 - history * SLOT, t0 + n_slots * SLOT)
    zones = tuple(series)
    carbon = {z: np.array([p.carbon_g_per_kwh for p in series[z]], dtype=float) for z in zones}
    price = {z: np.array([p.price_gbp_per_kwh for p in series[z]], dtype=float) for z in zones}
    return Signals(zones=zones, start=t0, n_slots=n_slots, history=history,
                   carbon=carbon, price=price)


@dataclass(frozen=True)
class Forecast:
    """Signals as known when issued at horizon slot ``issued``: actual before it, forecast from
    it on. Arrays cover the horizon (index = horizon slot)."""

    issued: int
    carbon: Mapping[str, np.ndarray]
    price: Mapping[str, np.ndarray]


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def price_known_until(signals: Signals, issued: int) -> int:
    """First horizon slot whose Agile price is not yet published at ``issued``: rates for the
    next 23:00-23:00 (UK time) day appear at about 16:00 UK time."""
    now = (signals.start + issued * SLOT).astimezone(UK)
    published = now.date() if now.hour >= AGILE_PUBLISH_LOCAL_HOUR else now.date() - timedelta(1)
    end_day = published + timedelta(days=1)
    day_end = datetime(end_day.year, end_day.month, end_day.day, AGILE_DAY_END_LOCAL_HOUR,
                       tzinfo=UK)
    return max(issued, math.ceil((day_end - signals.start) / SLOT))


@dataclass
class Forecaster:
    """Issues forecasts of ``signals`` in one ``mode``.

    - ``perfect``: the actual series (the bound).
    - ``persistence``: carbon at a slot = the actual value at the same time on the latest day
      already past at issue time (``same time yesterday`` for leads under a day, two days back
      for leads of 24-48 h, ...); refused without history (needs a start after 5 June 2023).
    - ``noisy``: actual x (1 + e), e the AR(1) of ``noise_sd``, seeded by (seed, quantity,
      zone, issue slot), independent between zones and between issue times.

    Prices: Agile rates already published at issue time (``price_known_until``) are exact in
    every mode; later ones follow the mode like carbon. Slots before ``issued`` are actual.
    """

    signals: Signals
    mode: Mode = "noisy"
    seed: int = 1
    _cache: dict[int, Forecast] = field(default_factory=dict, repr=False)
    _eta: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"forecast mode {self.mode!r}: expected one of {MODES}")
        if self.mode == "persistence" and self.signals.history < DAY_SLOTS:
            raise ValueError("persistence forecasts need a day of history before the start "
                             "(start on or after 2023-06-06)")

    def issue(self, issued: int) -> Forecast:
        """The forecast available at the start of horizon slot ``issued``."""
        if issued not in self._cache:
            sig = self.signals
            known = price_known_until(sig, issued)
            carbon = {z: self._forecast(sig.carbon[z], issued, "carbon", z) for z in sig.zones}
            price = {}
            for z in sig.zones:
                p = self._forecast(sig.price[z], issued, "price", z)
                p[:known] = sig.horizon_price(z)[:known]
                price[z] = p
            self._cache[issued] = Forecast(issued=issued, carbon=carbon, price=price)
        return self._cache[issued]

    def _surprises(self, what: str, zone: str) -> np.ndarray:
        """The standard-normal surprise revealed in each horizon slot: one sequence per
        quantity and zone, shared by every issue time."""
        key = (what, zone)
        if key not in self._eta:
            rng = np.random.default_rng(_seed(self.seed, what, zone))
            self._eta[key] = rng.standard_normal(self.signals.n_slots)
        return self._eta[key]

    def _forecast(self, full: np.ndarray, issued: int, what: str, zone: str) -> np.ndarray:
        h, n = self.signals.history, self.signals.n_slots
        actual = full[h:].copy()
        if self.mode == "perfect" or issued >= n:
            return actual
        t = np.arange(issued, n)
        if self.mode == "persistence":
            # The latest same-time-of-day slot before ``issued``: within a day of it, so inside
            # the (at least one day of) history.
            src = t - ((t - issued) // DAY_SLOTS + 1) * DAY_SLOTS
            out = actual.copy()
            out[issued:] = full[h + src]
            return out
        step = NOISE_SIGMA_INF * math.sqrt(1.0 - NOISE_PHI ** 2)
        err = lfilter([step], [1.0, -NOISE_PHI], self._surprises(what, zone)[issued:])
        out = actual.copy()
        out[issued:] = actual[issued:] * np.maximum(1.0 + err, NOISE_FLOOR)
        return out
