"""Settlement arithmetic: one pure entry point, `settle_day(inputs) -> DaySettlement`.

Every formula is explained, with the seed day as a worked example, in docs/settlement.md.
In short, per settlement interval k of a site (30 min by default):
- actual energy E_k = metered grid import in k (readings at any resolution, split pro rata
  where one straddles an interval edge); cost E_k x price_k; carbon E_k x intensity_k
  (location-based, the zone's signal in force in k); marginal carbon E_k x marginal_k,
  reported separately and only when a marginal factor is in force in every interval.
- baseline (the no-flexibility counterfactual) B_k = the load the confirmed order lines
  nominated, kW x hours of the line's slot inside k, priced the same way.
- a site's figures go to its orders in proportion to their baseline in k (all of it when the
  site has one order); an order's figures go to its items the same way.
- utilisation payment per verified event = rate (GBP/MWh) x paid MWh x performance factor,
  paid MWh = verified MWh capped at the instructed reduction x the event's hours, factor
  (pct - 50) / 50 clipped to [0, 1]; availability payment = rate (GBP/MW/h) x MW held x hours.
- battery: the recharge is metered import, so it is already inside the actual figures (and
  so counted against the savings); its energy, cost, carbon and the losses (charged -
  discharged) are reported beside them.

Nothing here reads a clock, the environment or a socket: the same inputs give the same
statement, which is what the audit trail recomputes (so this lives in the shared `rules`
package, run by settlement and re-run by the audit; see rules/README.md).
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AwareDatetime, Field, model_validator

from contracts.audit import StressInstruction
from contracts.compute_energy.vocab import OrderLine
from contracts.envelope import Frozen
from contracts.events import (
    EventSettlement,
    FlexibilityVerified,
    IntervalSeries,
    ItemSettlement,
    MeterReadingRecorded,
    OrderSettlement,
    ResponseDispatched,
    SettlementStatementIssued,
    SiteDaySettled,
    SiteSettlement,
    ZoneSignalPublished,
)


class SettlementInputError(ValueError):
    """The inputs cannot be settled (the message says which input and why)."""


class MissingSignal(SettlementInputError, LookupError):
    pass


# ---- inputs --------------------------------------------------------------------------------


class SettlementConfig(Frozen):
    """The rules' parameters; its digest goes on every statement."""

    interval_minutes: int = Field(30, ge=1, le=1440)
    performance_floor_pct: float = Field(50.0, ge=0, le=100)
    performance_full_pct: float = Field(100.0, gt=0, le=1000)
    cap_paid_energy_at_instructed: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> SettlementConfig:
        if self.performance_full_pct <= self.performance_floor_pct:
            raise ValueError("performance_full_pct must be above performance_floor_pct")
        return self

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class OrderedLine(Frozen):
    """One Beckn order item: its ids and the line it nominated."""

    item_id: str
    line_id: str
    line: OrderLine


class OrderInput(Frozen):
    """A confirmed order of one site."""

    order_id: str
    transaction_id: str
    site_id: str
    zone: str
    items: tuple[OrderedLine, ...] = Field(min_length=1)


InstructedEvent = StressInstruction
"""A stress event as the grid sent it to one order (it carries the utilisation rate): the
contract the audit log records it under, so the audit keeps and replays it unconverted."""


class SettlementInputs(Frozen):
    """Everything a day's settlement depends on, and nothing else."""

    day_start: AwareDatetime
    day_end: AwareDatetime
    config: SettlementConfig = SettlementConfig()
    orders: tuple[OrderInput, ...]
    signals: tuple[ZoneSignalPublished, ...]
    readings: tuple[MeterReadingRecorded, ...]
    events: tuple[InstructedEvent, ...] = ()
    verifications: tuple[FlexibilityVerified, ...] = ()
    responses: tuple[ResponseDispatched, ...] = ()

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class DaySettlement:
    """The day settled: the statement and, per site, its intervals."""

    statement: SettlementStatementIssued
    sites: tuple[SiteDaySettled, ...]


# ---- the formulas --------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneSeries:
    """A zone's signals in force, looked up by instant."""

    starts: tuple[datetime, ...]
    signals: tuple[ZoneSignalPublished, ...]

    @classmethod
    def of(cls, signals: Iterable[ZoneSignalPublished]) -> ZoneSeries:
        ordered = sorted(signals, key=lambda s: s.period_start)
        return cls(tuple(s.period_start for s in ordered), tuple(ordered))

    def at(self, t: datetime) -> ZoneSignalPublished:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0 or not (self.signals[i].period_start <= t < self.signals[i].period_end):
            raise MissingSignal(f"no signal in force at {t.isoformat()}")
        return self.signals[i]


def by_zone(signals: Iterable[ZoneSignalPublished]) -> dict[str, ZoneSeries]:
    zones: dict[str, list[ZoneSignalPublished]] = {}
    for s in signals:
        zones.setdefault(s.zone, []).append(s)
    return {z: ZoneSeries.of(v) for z, v in zones.items()}


def nominated_kw(lines: Iterable[OrderLine], t: datetime) -> float:
    return sum(line.compute_load_kw for line in lines if line.slot_start <= t < line.slot_end)


def overlap_hours(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds() / 3600)


def performance_factor(delivered_pct: float, floor_pct: float = 50.0,
                       full_pct: float = 100.0) -> float:
    """0 at or below `floor_pct` delivery, rising linearly to 1 at `full_pct`, 1 above."""
    return max(0.0, min(1.0, (delivered_pct - floor_pct) / (full_pct - floor_pct)))


def paid_kwh(delivered_kwh: float, requested_kw: float, hours: float, cap: bool = True) -> float:
    """Verified energy that earns the utilisation rate: none for a load increase, and no more
    than was instructed (requested kW x the event's hours) when `cap`."""
    e = max(0.0, delivered_kwh)
    return min(e, max(0.0, requested_kw) * hours) if cap else e


def flex_payment_gbp(rate_gbp_per_mwh: float, delivered_kwh: float, delivered_pct: float) -> float:
    """Utilisation payment, uncapped: rate x verified MWh x performance factor."""
    return rate_gbp_per_mwh * max(0.0, delivered_kwh) / 1000 * performance_factor(delivered_pct)


def availability_payment_gbp(rate_gbp_per_mw_per_h: float, available_kw: float,
                             hours: float) -> float:
    return rate_gbp_per_mw_per_h * available_kw / 1000 * hours


def battery_losses(charged_kwh: float, discharged_kwh: float) -> float:
    """Energy bought for the battery on the day that it did not give back on the day."""
    return max(0.0, charged_kwh - discharged_kwh)


def reduction_pct(baseline: float, actual: float) -> float:
    return round(100.0 * (baseline - actual) / baseline, 4) if baseline else 0.0


# ---- settle_day ----------------------------------------------------------------------------


def _r(x: float) -> float:
    return round(x, 6)


def _ro(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass
class _Metered:
    """A site's meter, summed per interval."""

    imp: list[float]
    load: list[float]
    batt: list[float]
    charge: list[float]
    discharge: list[float]
    hours: list[float]
    count: int
    first_len: timedelta | None


def _meter(readings: Sequence[MeterReadingRecorded], start: datetime, end: datetime,
           step: timedelta) -> _Metered:
    n = int((end - start) / step)
    m = _Metered([0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, 0, None)
    first: datetime | None = None
    for r in readings:
        if r.end <= start or r.start >= end:
            continue
        m.count += 1
        if first is None or r.start < first:
            first, m.first_len = r.start, r.end - r.start
        span = (r.end - r.start).total_seconds()
        k = max(0, int((r.start - start) / step))
        while k < n:
            k0 = start + k * step
            if k0 >= r.end:
                break
            share = overlap_hours(r.start, r.end, k0, k0 + step) * 3600 / span
            if share > 0:
                b = r.battery_discharge_kwh * share
                m.imp[k] += r.import_kwh * share
                m.load[k] += r.load_kwh * share
                m.batt[k] += b
                m.charge[k] += max(0.0, -b)
                m.discharge[k] += max(0.0, b)
                m.hours[k] += span * share / 3600
            k += 1
    return m


def _line_profile(line: OrderLine, start: datetime, step: timedelta, n: int) -> dict[int, float]:
    """kWh the line nominates in each interval it overlaps."""
    out: dict[int, float] = {}
    k = max(0, int((line.slot_start - start) / step))
    while k < n:
        k0 = start + k * step
        if k0 >= line.slot_end:
            break
        h = overlap_hours(line.slot_start, line.slot_end, k0, k0 + step)
        if h > 0:
            out[k] = line.compute_load_kw * h
        k += 1
    return out


@dataclass(frozen=True)
class _Prices:
    price: list[float]
    co2: list[float]
    marginal: list[float] | None


def _prices(series: ZoneSeries, zone: str, start: datetime, step: timedelta, n: int) -> _Prices:
    price, co2, marg = [], [], []
    for k in range(n):
        t = start + k * step
        try:
            s = series.at(t)
        except MissingSignal as exc:
            raise MissingSignal(f"zone {zone}: {exc}") from None
        if s.period_end < t + step:
            raise SettlementInputError(
                f"zone {zone}: the signal from {s.period_start.isoformat()} ends before the "
                f"settlement interval {t.isoformat()} does; settle at the signal's period")
        price.append(s.price_gbp_per_kwh)
        co2.append(s.carbon_g_per_kwh)
        marg.append(s.marginal_carbon_g_per_kwh)
    complete = all(v is not None for v in marg)
    return _Prices(price, co2, [float(v) for v in marg if v is not None] if complete else None)


@dataclass
class _Sum:
    e: float = 0.0
    c: float = 0.0
    k: float = 0.0
    m: float = 0.0
    be: float = 0.0
    bc: float = 0.0
    bk: float = 0.0
    bm: float = 0.0

    def add(self, p: _Prices, i: int, e: float, b: float) -> None:
        self.e += e
        self.c += e * p.price[i]
        self.k += e * p.co2[i] / 1000
        self.be += b
        self.bc += b * p.price[i]
        self.bk += b * p.co2[i] / 1000
        if p.marginal is not None:
            self.m += e * p.marginal[i] / 1000
            self.bm += b * p.marginal[i] / 1000


def _col(xs: Iterable[float]) -> tuple[float, ...]:
    return tuple(round(x, 6) for x in xs)


def _series(p: _Prices, e: Sequence[float], b: Sequence[float], order_id: str | None = None,
            m: _Metered | None = None) -> IntervalSeries:
    pr, g, mg = p.price, p.co2, p.marginal
    return IntervalSeries(
        order_id=order_id, energy_kwh=_col(e), baseline_kwh=_col(b),
        cost_gbp=_col(x * y for x, y in zip(e, pr, strict=True)),
        baseline_cost_gbp=_col(x * y for x, y in zip(b, pr, strict=True)),
        carbon_kg=_col(x * y / 1000 for x, y in zip(e, g, strict=True)),
        baseline_carbon_kg=_col(x * y / 1000 for x, y in zip(b, g, strict=True)),
        marginal_carbon_kg=None if mg is None else _col(
            x * y / 1000 for x, y in zip(e, mg, strict=True)),
        baseline_marginal_carbon_kg=None if mg is None else _col(
            x * y / 1000 for x, y in zip(b, mg, strict=True)),
        load_kwh=_col(m.load) if m else (), battery_discharge_kwh=_col(m.batt) if m else (),
        metered_hours=_col(m.hours) if m else ())


def _totals(p: _Prices, e: Sequence[float], b: Sequence[float]) -> _Sum:
    s = _Sum(e=sum(e), be=sum(b))
    s.c = sum(x * y for x, y in zip(e, p.price, strict=True))
    s.bc = sum(x * y for x, y in zip(b, p.price, strict=True))
    s.k = sum(x * y for x, y in zip(e, p.co2, strict=True)) / 1000
    s.bk = sum(x * y for x, y in zip(b, p.co2, strict=True)) / 1000
    if p.marginal is not None:
        s.m = sum(x * y for x, y in zip(e, p.marginal, strict=True)) / 1000
        s.bm = sum(x * y for x, y in zip(b, p.marginal, strict=True)) / 1000
    return s


def _shares(weights: Mapping[str, float], fallback: Mapping[str, float]) -> dict[str, float]:
    """Proportional shares of `weights`; of `fallback` when they sum to 0; else equal."""
    for w in (weights, fallback):
        total = sum(w.values())
        if total > 0:
            return {o: v / total for o, v in w.items()}
    n = len(fallback)
    return {o: 1.0 / n for o in fallback}


def _events_paid(inputs: SettlementInputs) -> list[EventSettlement]:
    cfg = inputs.config
    instructed = {(e.event.event_id, e.site_id): e for e in inputs.events}
    out = []
    for v in sorted(inputs.verifications, key=lambda v: (v.start, v.event_id, v.site_id)):
        ie = instructed.get((v.event_id, v.site_id))
        if ie is None:
            raise SettlementInputError(
                f"verification {v.event_id}/{v.site_id} has no instructed event (no rate)")
        hours = (v.end - v.start).total_seconds() / 3600
        pf = performance_factor(v.delivered_pct, cfg.performance_floor_pct,
                                cfg.performance_full_pct)
        paid = paid_kwh(v.delivered_kwh, v.requested_kw, hours, cfg.cap_paid_energy_at_instructed)
        rate = ie.event.utilisation_payment_gbp_per_mwh
        out.append(EventSettlement(
            event_id=v.event_id, site_id=v.site_id, order_id=v.order_id,
            transaction_id=v.transaction_id, start=v.start, end=v.end,
            requested_kw=v.requested_kw, baseline_kw=v.baseline_kw, metered_kw=v.metered_kw,
            delivered_kw=v.delivered_kw, delivered_kwh=v.delivered_kwh,
            delivered_pct=v.delivered_pct, verdict=v.verdict, net_system_kw=v.net_system_kw,
            performance_factor=_r(pf), utilisation_rate_gbp_per_mwh=rate, paid_kwh=_r(paid),
            utilisation_payment_gbp=_r(rate * paid / 1000 * pf)))
    return out


def _mean(num: float, hours: float) -> float:
    return num / hours if hours > 0 else 0.0


def settle_day(inputs: SettlementInputs) -> DaySettlement:
    """Settle one day. Pure: the result depends on `inputs` alone (docs/settlement.md).

    Raises SettlementInputError (MissingSignal when a zone has no signal in force in an
    interval) when the inputs cannot be settled.
    """
    cfg = inputs.config
    start, end = inputs.day_start, inputs.day_end
    step = timedelta(minutes=cfg.interval_minutes)
    if end <= start or (end - start) % step:
        raise SettlementInputError(
            f"the day {start.isoformat()}..{end.isoformat()} is not a whole number of "
            f"{cfg.interval_minutes}-minute intervals")
    n = int((end - start) / step)
    times = [start + k * step for k in range(n)]
    series = by_zone(inputs.signals)
    orders_by_site: dict[str, list[OrderInput]] = defaultdict(list)
    for o in inputs.orders:
        orders_by_site[o.site_id].append(o)
    readings_by_site: dict[str, list[MeterReadingRecorded]] = defaultdict(list)
    for r in inputs.readings:
        if r.site_id in orders_by_site:
            readings_by_site[r.site_id].append(r)
    prices: dict[str, _Prices] = {}
    events = _events_paid(inputs)
    first = min((e.event for e in inputs.events), key=lambda e: (e.start, e.event_id),
                default=None)
    span = [k for k, t in enumerate(times)
            if first is not None and first.start <= t and t + step <= first.end]

    sites: list[SiteSettlement] = []
    days: list[SiteDaySettled] = []
    orders: list[OrderSettlement] = []
    for site_id in sorted(orders_by_site):
        site_orders = sorted(orders_by_site[site_id], key=lambda o: (o.order_id, o.transaction_id))
        zones = {o.zone for o in site_orders}
        if len(zones) != 1:
            raise SettlementInputError(f"site {site_id}: orders in several zones {sorted(zones)}")
        zone = zones.pop()
        if zone not in prices:
            if zone not in series:
                raise MissingSignal(f"zone {zone}: no signals")
            prices[zone] = _prices(series[zone], zone, start, step, n)
        p = prices[zone]
        m = _meter(readings_by_site[site_id], start, end, step)
        item_prof = {(o.order_id, it.item_id): _line_profile(it.line, start, step, n)
                     for o in site_orders for it in o.items}
        base = {o.order_id: [0.0] * n for o in site_orders}
        for o in site_orders:
            for it in o.items:
                for k, kwh in item_prof[(o.order_id, it.item_id)].items():
                    base[o.order_id][k] += kwh
        day_base = {oid: sum(b) for oid, b in base.items()}

        b_site = [sum(col) for col in zip(*base.values(), strict=True)]
        site_sum = _totals(p, m.imp, b_site)
        site_series = _series(p, m.imp, b_site, None, m)
        if len(site_orders) == 1:
            (oid,) = base
            order_e, weights = {oid: m.imp}, {oid: [1.0] * n}
        else:
            weights = {oid: [0.0] * n for oid in base}
            for k in range(n):
                shares = _shares({oid: base[oid][k] for oid in base}, day_base)
                for oid, w in shares.items():
                    weights[oid][k] = w
            order_e = {oid: [x * w for x, w in zip(m.imp, weights[oid], strict=True)]
                       for oid in base}
        order_sum = {oid: _totals(p, order_e[oid], base[oid]) for oid in base}
        order_series = [] if len(site_orders) == 1 else [
            _series(p, order_e[o.order_id], base[o.order_id], o.order_id) for o in site_orders]
        order_charge = {}  # kWh, £, kg charged; kWh discharged
        for oid, w in weights.items():
            ch = [c * x for c, x in zip(m.charge, w, strict=True)]
            order_charge[oid] = [
                sum(ch), sum(c * y for c, y in zip(ch, p.price, strict=True)),
                sum(c * y for c, y in zip(ch, p.co2, strict=True)) / 1000,
                sum(d * x for d, x in zip(m.discharge, w, strict=True))]
        item_sum = {key: _Sum() for key in item_prof}
        for o in site_orders:
            e_o, b_o = order_e[o.order_id], base[o.order_id]
            for it in o.items:
                acc = item_sum[(o.order_id, it.item_id)]
                for k, b_i in item_prof[(o.order_id, it.item_id)].items():
                    if b_i > 0:
                        acc.add(p, k, e_o[k] * b_i / b_o[k], b_i)

        charged, discharged = sum(m.charge), sum(m.discharge)
        recharge_cost = sum(c * pr for c, pr in zip(m.charge, p.price, strict=True))
        recharge_co2 = sum(c * g / 1000 for c, g in zip(m.charge, p.co2, strict=True))
        losses = battery_losses(charged, discharged)
        loss_share = losses / charged if charged > 0 else 0.0
        span_h = len(span) * cfg.interval_minutes / 60
        met_h = sum(m.hours[k] for k in span)
        missing = 0
        if m.first_len is not None:
            missing = max(0, int((end - start) / m.first_len) - m.count)
        elif n:
            missing = n
        marginal = p.marginal is not None
        sites.append(SiteSettlement(
            site_id=site_id, zone=zone, energy_kwh=_r(site_sum.e), cost_gbp=_r(site_sum.c),
            carbon_kg=_r(site_sum.k), baseline_energy_kwh=_r(site_sum.be),
            baseline_cost_gbp=_r(site_sum.bc), baseline_carbon_kg=_r(site_sum.bk),
            load_kw_before_event=_r(_mean(sum(b_site[k] for k in span), span_h)),
            load_kw_after_event=_r(_mean(sum(m.load[k] for k in span), met_h)),
            import_kw_after_event=_r(_mean(sum(m.imp[k] for k in span), met_h)),
            missing_readings=missing, load_kwh=_r(sum(m.load)),
            marginal_carbon_kg=_r(site_sum.m) if marginal else None,
            baseline_marginal_carbon_kg=_r(site_sum.bm) if marginal else None,
            battery_charge_kwh=_r(charged), battery_discharge_kwh=_r(discharged),
            battery_losses_kwh=_r(losses), battery_recharge_cost_gbp=_r(recharge_cost),
            battery_recharge_carbon_kg=_r(recharge_co2),
            battery_losses_cost_gbp=_r(recharge_cost * loss_share),
            battery_losses_carbon_kg=_r(recharge_co2 * loss_share)))
        days.append(SiteDaySettled(
            day_start=start, day_end=end, site_id=site_id, zone=zone,
            interval_minutes=cfg.interval_minutes, price_gbp_per_kwh=tuple(p.price),
            carbon_g_per_kwh=tuple(p.co2),
            marginal_carbon_g_per_kwh=None if p.marginal is None else tuple(p.marginal),
            site=site_series, orders=tuple(order_series)))
        for o in site_orders:
            orders.append(_order(o, order_sum[o.order_id], item_sum, order_charge[o.order_id],
                                 events, marginal, start, end))

    return DaySettlement(_statement(inputs, sites, orders, events), tuple(days))


def _order(o: OrderInput, s: _Sum, item_sum: Mapping[tuple[str, str], _Sum],
           charge: list[float], events: Sequence[EventSettlement], marginal: bool,
           start: datetime, end: datetime) -> OrderSettlement:
    mine = [e for e in events if e.transaction_id == o.transaction_id]
    req = [e.requested_kw * (e.end - e.start).total_seconds() / 3600 for e in mine]
    weights = req if sum(req) > 0 else [1.0] * len(mine)
    pct = (sum(e.delivered_pct * w for e, w in zip(mine, weights, strict=True)) / sum(weights)
           if mine else None)
    pf = (sum(e.performance_factor * w for e, w in zip(mine, weights, strict=True))
          / sum(weights) if mine else None)
    items = []
    for it in o.items:
        line = it.line
        nominated_in = {e.event_id: overlap_hours(line.slot_start, line.slot_end, e.start, e.end)
                        * line.compute_load_kw for e in mine}
        ver = pay = 0.0
        for e in mine:
            total = sum(overlap_hours(x.line.slot_start, x.line.slot_end, e.start, e.end)
                        * x.line.compute_load_kw for x in o.items)
            if total > 0:
                ver += e.delivered_kwh * nominated_in[e.event_id] / total
                pay += e.utilisation_payment_gbp * nominated_in[e.event_id] / total
        avail = 0.0
        if line.availability_payment_gbp_per_mw_per_h and line.availability_kw:
            avail = availability_payment_gbp(
                line.availability_payment_gbp_per_mw_per_h, line.availability_kw,
                overlap_hours(line.slot_start, line.slot_end, start, end))
        si = item_sum[(o.order_id, it.item_id)]
        items.append(ItemSettlement(
            item_id=it.item_id, line_id=it.line_id, slot_start=line.slot_start,
            slot_end=line.slot_end, energy_kwh=_r(si.e), cost_gbp=_r(si.c), carbon_kg=_r(si.k),
            baseline_energy_kwh=_r(si.be), baseline_cost_gbp=_r(si.bc),
            baseline_carbon_kg=_r(si.bk), verified_kwh=_r(ver), utilisation_payment_gbp=_r(pay),
            availability_payment_gbp=_r(avail)))
    util = sum(e.utilisation_payment_gbp for e in mine)
    avail = sum(i.availability_payment_gbp for i in items)
    return OrderSettlement(
        order_id=o.order_id, transaction_id=o.transaction_id, site_id=o.site_id,
        energy_kwh=_r(s.e), cost_gbp=_r(s.c), carbon_kg=_r(s.k), baseline_cost_gbp=_r(s.bc),
        baseline_carbon_kg=_r(s.bk), flex_payment_gbp=_r(util + avail),
        baseline_energy_kwh=_r(s.be), marginal_carbon_kg=_r(s.m) if marginal else None,
        baseline_marginal_carbon_kg=_r(s.bm) if marginal else None,
        utilisation_payment_gbp=_r(util), availability_payment_gbp=_r(avail),
        verified_kwh=_r(sum(e.delivered_kwh for e in mine)), delivered_pct=_ro(pct),
        performance_factor=_ro(pf), battery_recharge_cost_gbp=_r(charge[1]),
        battery_losses_kwh=_r(battery_losses(charge[0], charge[3])), items=tuple(items))


def _statement(inputs: SettlementInputs, sites: Sequence[SiteSettlement],
               orders: Sequence[OrderSettlement],
               events: Sequence[EventSettlement]) -> SettlementStatementIssued:
    marginal = bool(sites) and all(s.marginal_carbon_kg is not None for s in sites)
    util = sum(o.utilisation_payment_gbp for o in orders)
    avail = sum(o.availability_payment_gbp for o in orders)
    return SettlementStatementIssued(
        day_start=inputs.day_start, day_end=inputs.day_end, sites=tuple(sites),
        orders=tuple(orders),
        shifted_kw=_r(sum(r.shifted_kw for r in inputs.responses)),
        battery_kw=_r(sum(r.battery_kw for r in inputs.responses)),
        verified_kw=_r(sum(v.delivered_kw for v in inputs.verifications)),
        verified_kwh=_r(sum(v.delivered_kwh for v in inputs.verifications)),
        net_system_kw=_r(sum(v.net_system_kw for v in inputs.verifications)),
        flex_payment_gbp=_r(util + avail),
        baseline_cost_gbp=_r(sum(s.baseline_cost_gbp for s in sites)),
        actual_cost_gbp=_r(sum(s.cost_gbp for s in sites)),
        baseline_carbon_kg=_r(sum(s.baseline_carbon_kg for s in sites)),
        actual_carbon_kg=_r(sum(s.carbon_kg for s in sites)),
        events=tuple(events), utilisation_payment_gbp=_r(util),
        availability_payment_gbp=_r(avail),
        baseline_energy_kwh=_r(sum(s.baseline_energy_kwh for s in sites)),
        actual_energy_kwh=_r(sum(s.energy_kwh for s in sites)),
        battery_recharge_cost_gbp=_r(sum(s.battery_recharge_cost_gbp for s in sites)),
        battery_recharge_carbon_kg=_r(sum(s.battery_recharge_carbon_kg for s in sites)),
        battery_losses_kwh=_r(sum(s.battery_losses_kwh for s in sites)),
        baseline_marginal_carbon_kg=(
            _r(sum(s.baseline_marginal_carbon_kg or 0.0 for s in sites)) if marginal else None),
        actual_marginal_carbon_kg=(
            _r(sum(s.marginal_carbon_kg or 0.0 for s in sites)) if marginal else None),
        interval_minutes=inputs.config.interval_minutes, config_digest=inputs.config.digest(),
        inputs_digest=inputs.digest())
