"""Metering validator handlers: sum readings per settlement period, verify each stress event
once its sites are metered past its end (or their day is closed).

With several instances in one group, each applies every record (the runner's `shared` topics)
and decides each event once, but only the instance owning the stressed site's readings partition
(`ValidatorState.owns`) publishes it; every instance follows the verifications topic, so a
verification decided but not seen published is owed (`owed`) by whoever owns that site next."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from contracts.beckn.models import BecknMessage, OrderStatus
from contracts.compute_energy.vocab import FlexibilityAction, GridStressEvent, OrderLine
from contracts.events import (
    FlexibilityVerified,
    IntervalDelivery,
    MeterDayClosed,
    MeterReadingRecorded,
    SiteDelta,
    Verdict,
)
from contracts.topics import VERIFICATIONS
from services.common.beckn import order_of
from services.common.codec import envelope
from services.common.ids import stable_id
from services.common.runner import Inbound, Out, ignore
from services.metering_validator.baselines import (
    Baseline,
    BaselineRefused,
    History,
    Method,
    Programme,
    accuracy,
    history_baseline,
    nominated_baseline,
)
from services.metering_validator.domain import measure, nominated_kw, verdict
from services.metering_validator.holidays import ENGLAND_AND_WALES
from services.metering_validator.periods import (
    Meter,
    check_interval,
    epoch_seconds,
    periods_within,
    split_days,
)

SOURCE = "metering-validator"


@dataclass(frozen=True)
class ValidatorConfig:
    """Measurement rules: a programme per grid zone (else `default`), the calendar, the assets."""

    default: Programme = field(default_factory=Programme)
    programmes: Mapping[str, Programme] = field(default_factory=dict)
    holidays: frozenset[date] = ENGLAND_AND_WALES
    battery_sites: frozenset[str] = frozenset()
    outage_days: Mapping[str, frozenset[date]] = field(default_factory=dict)
    interval_minutes: int = 30

    def __post_init__(self) -> None:
        check_interval(self.interval_minutes)

    def programme(self, zone: str) -> Programme:
        return self.programmes.get(zone, self.default)

    @property
    def retention_s(self) -> float:
        """How far back readings are kept: twice the longest lookback (a baseline's own days
        are tested against their own history), plus two days."""
        days = max(p.lookback_days if p.method != Method.NOMINATED else 0
                   for p in (self.default, *self.programmes.values()))
        return (2 * days + 2) * 86_400.0


@dataclass(frozen=True)
class PendingEvent:
    event: GridStressEvent
    order_id: str
    transaction_id: str
    site_id: str


@dataclass
class ValidatorState:
    config: ValidatorConfig = field(default_factory=ValidatorConfig)
    lines: dict[str, tuple[OrderLine, ...]] = field(default_factory=dict)
    events: dict[str, PendingEvent] = field(default_factory=dict)
    receiving: dict[str, set[str]] = field(default_factory=dict)
    meters: dict[str, Meter] = field(default_factory=dict)
    metered_until: dict[str, float] = field(default_factory=dict)
    event_days: dict[str, set[date]] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)
    waiting: dict[str, set[str]] = field(default_factory=dict)
    """Per site, the keys of the events not yet verified that it is metered for (stressed or
    receiving): only a change at one of these sites can make such an event ready."""
    next_end: dict[str, float] = field(default_factory=dict)
    """Per site, the earliest end (epoch s) of its waiting events: readings before it verify
    nothing, so a reading costs no more than its own interval however many events wait."""
    pruned_at: dict[str, float] = field(default_factory=dict)
    owns: Callable[[str], bool] = field(default=lambda site_id: True, repr=False)
    """Whether this instance publishes the site's verifications (it owns the site's readings
    partition); always, for a single instance."""
    published: set[str] = field(default_factory=set)
    """Verifications seen on the verifications topic (by event key)."""
    awaiting: dict[str, Out] = field(default_factory=dict)
    """Verifications decided here but neither sent by this instance nor seen published."""

    def all_lines(self) -> list[OrderLine]:
        return [line for ls in self.lines.values() for line in ls]

    def meter(self, site_id: str) -> Meter:
        m = self.meters.get(site_id)
        if m is None:
            m = self.meters[site_id] = Meter(self.config.interval_minutes)
        return m

    def mark_event_days(self, site_id: str, start: datetime, end: datetime) -> None:
        self.event_days.setdefault(site_id, set()).update(split_days(start, end))

    def sites_of(self, key: str) -> set[str]:
        p = self.events[key]
        return {p.site_id, *self.receiving.get(p.event.event_id, set())}

    def wait(self, site_id: str, key: str) -> None:
        self.waiting.setdefault(site_id, set()).add(key)
        end = self.events[key].event.end.timestamp()
        self.next_end[site_id] = min(self.next_end.get(site_id, math.inf), end)


def _ready(st: ValidatorState, key: str) -> bool:
    end = st.events[key].event.end.timestamp()
    return all(st.metered_until.get(s, -math.inf) >= end for s in st.sites_of(key))


def _baseline(st: ValidatorState, site: str, periods: Sequence[datetime],
              prog: Programme) -> Baseline:
    meter = st.meter(site)
    if prog.method == Method.NOMINATED:
        lines = st.all_lines()
        return nominated_baseline(meter, periods, lambda t: nominated_kw(lines, site, t), prog)
    return history_baseline(meter, periods, prog, _history(st, site),
                            battery=site in st.config.battery_sites)


def _history(st: ValidatorState, site: str) -> History:
    return History(st.config.holidays, frozenset(st.event_days.get(site, set())),
                   st.config.outage_days.get(site, frozenset()))


def verify_event(st: ValidatorState, p: PendingEvent) -> FlexibilityVerified:
    """The event's measurement at the stressed site and at each accepted receiving site."""
    ev = p.event
    prog = st.config.programme(ev.grid_zone)
    periods = periods_within(ev.start, ev.end, st.config.interval_minutes)
    reasons: list[str] = []
    common = {"event_id": ev.event_id, "order_id": p.order_id,
              "transaction_id": p.transaction_id, "site_id": p.site_id, "start": ev.start,
              "end": ev.end, "requested_kw": ev.requested_reduction_kw,
              "baseline_method": prog.method.value}
    try:
        base = _baseline(st, p.site_id, periods, prog)
    except BaselineRefused as exc:
        return FlexibilityVerified(
            **common, baseline_kw=0.0, metered_kw=0.0, delivered_kw=0.0, delivered_kwh=0.0,
            delivered_pct=0.0, verdict=Verdict.FAILED, net_system_kw=0.0, baseline_refused=True,
            reasons=(f"baseline refused: {exc}",))
    here = measure(st.meter(p.site_id), periods, base)
    pct, v = verdict(here.delivered_kw, ev.requested_reduction_kw)
    reasons.extend(base.notes)
    if here.missing:
        reasons.append(f"{here.missing} of {len(periods)} periods without complete readings: "
                       "no delivery credited for them")
    rrmse = None
    tested = 0
    if prog.method != Method.NOMINATED:
        rrmse, tested = accuracy(st.meter(p.site_id), periods, prog, _history(st, p.site_id),
                                 base.days, battery=p.site_id in st.config.battery_sites)
        if rrmse is None:
            reasons.append("baseline accuracy unknown: no test day had enough history")
        elif rrmse > prog.rrmse_flag:
            reasons.append(f"baseline RRMSE {rrmse:.1%} on non-event days > "
                           f"{prog.rrmse_flag:.0%}")
    deltas = []
    increase_kwh = 0.0
    for s in sorted(st.receiving.get(ev.event_id, set())):
        try:
            rb = _baseline(st, s, periods, prog)
        except BaselineRefused as exc:
            reasons.append(f"receiving site {s}: baseline refused ({exc}); its increase is not "
                           "netted off")
            continue
        r = measure(st.meter(s), periods, rb)
        increase_kwh += r.increase_kwh
        deltas.append(SiteDelta(site_id=s, baseline_kw=round(r.baseline_kw, 6),
                                metered_kw=round(r.metered_kw, 6),
                                increase_kwh=round(r.increase_kwh, 6), baseline_days=rb.days))
    hours = len(periods) * st.config.interval_minutes / 60
    net_kwh = here.delivered_kwh - increase_kwh
    return FlexibilityVerified(
        **common, baseline_kw=round(here.baseline_kw, 6), metered_kw=round(here.metered_kw, 6),
        delivered_kw=round(here.delivered_kw, 6), delivered_kwh=round(here.delivered_kwh, 6),
        delivered_pct=round(pct, 3), verdict=v, receiving=tuple(deltas),
        net_system_kw=round(net_kwh / hours, 6) if hours else 0.0,
        net_system_kwh=round(net_kwh, 6), baseline_days=base.days,
        adjustment_kwh=round(base.adjustment_kwh, 6),
        rrmse_pct=None if rrmse is None else round(100 * rrmse, 3), accuracy_days=tested,
        accuracy_flagged=rrmse is not None and rrmse > prog.rrmse_flag,
        pre_event_uplift_pct=None if base.uplift is None else round(100 * base.uplift, 3),
        gaming_suspected=base.gaming, missing_intervals=here.missing,
        intervals=tuple(IntervalDelivery(
            start=i.start, end=i.end, baseline_kwh=round(i.baseline_kwh, 6),
            metered_kwh=None if i.metered_kwh is None else round(i.metered_kwh, 6),
            delivered_kwh=round(i.delivered_kwh, 6)) for i in here.intervals),
        reasons=tuple(reasons))


def _verify(st: ValidatorState, sites: set[str], replay: bool) -> list[Out]:
    """Decide, in key order and once, the waiting events of `sites` that are now metered past
    their end at every site they involve. A decision is sent at once when this record is handled
    live and this instance owns the stressed site; otherwise it waits in `awaiting` (for `owed`,
    or until it is seen published). A decision already seen published is done."""
    keys = sorted({k for s in sites for k in st.waiting.get(s, ())})
    outs = []
    touched = set(sites)
    for key in keys:
        if key in st.verified or not _ready(st, key):
            continue
        st.verified.add(key)
        p = st.events[key]
        for s in st.sites_of(key):
            st.waiting.get(s, set()).discard(key)
            touched.add(s)
        if key in st.published:
            continue
        out = Out(VERIFICATIONS, p.site_id, envelope(
            verify_event(st, p), id=stable_id("verified", key), time=p.event.end, source=SOURCE))
        if not replay and st.owns(p.site_id):
            outs.append(out)
        else:
            st.awaiting[key] = out
    for s in touched:
        ends = [st.events[k].event.end.timestamp() for k in st.waiting.get(s, ())]
        st.next_end[s] = min(ends, default=math.inf)
    return outs


def owed(st: ValidatorState) -> list[Out]:
    """The decided verifications not seen published whose site this instance now owns: decided
    while replaying (at start-up or from another instance's partitions), or inherited from an
    instance that stopped before publishing them."""
    keys = sorted(k for k, out in st.awaiting.items() if st.owns(out.key))
    return [st.awaiting.pop(k) for k in keys]


def on_order_confirmed(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """A confirmed order's lines are the nominated baseline of its site."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    if order.status == OrderStatus.CONFIRMED:
        st.lines[msg.context.transaction_id] = tuple(i.attributes for i in order.items)
    return []


def on_grid_update(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """Note stress events (what was instructed) and accepted receiving-site updates; the days
    they touch are event days of those sites, never baseline days."""
    msg: BecknMessage = m.value
    order = order_of(msg)
    a = order.attributes
    if isinstance(a, GridStressEvent):
        site = order.items[0].attributes.site_id
        key = f"{a.event_id}/{site}"
        st.events[key] = PendingEvent(a, order.id or "", msg.context.transaction_id, site)
        st.mark_event_days(site, a.start, a.end)
        if key not in st.verified:
            for s in st.sites_of(key):
                st.wait(s, key)
        return _verify(st, {site}, m.replay)
    if isinstance(a, FlexibilityAction) and a.role == "receiving_site" and a.accepted:
        site = order.items[0].attributes.site_id
        st.receiving.setdefault(a.event_id, set()).add(site)
        for key, p in st.events.items():
            if p.event.event_id == a.event_id:
                st.mark_event_days(site, p.event.start, p.event.end)
                if key not in st.verified:
                    st.wait(site, key)
        return _verify(st, {site}, m.replay)
    return []


def on_reading(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """Add the interval to its settlement periods; verify any event now metered past its end."""
    r = m.value.payload
    assert isinstance(r, MeterReadingRecorded)
    site = r.site_id
    end = epoch_seconds(r.end)
    meter = st.meters.get(site) or st.meter(site)
    meter.add_seconds(epoch_seconds(r.start), end, r.import_kwh)
    if end > st.metered_until.get(site, -math.inf):
        st.metered_until[site] = end
        if end - st.pruned_at.get(site, -math.inf) >= 86_400:  # at most once a day per site
            st.pruned_at[site] = end
            meter.prune_before_s(end - st.config.retention_s)
        if end >= st.next_end.get(site, math.inf):
            return _verify(st, {site}, m.replay)
    return ()


def on_day_closed(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """The site's meter has reported its day: what is still missing stays missing."""
    c = m.value.payload
    assert isinstance(c, MeterDayClosed)
    end = c.day_end.timestamp()
    if end > st.metered_until.get(c.site_id, -math.inf):
        st.metered_until[c.site_id] = end
        if end >= st.next_end.get(c.site_id, math.inf):
            return _verify(st, {c.site_id}, m.replay)
    return []


def on_verified(st: ValidatorState, m: Inbound) -> Sequence[Out]:
    """A verification on the topic (this instance's or another's) is published: never again."""
    v = m.value.payload
    assert isinstance(v, FlexibilityVerified)
    key = f"{v.event_id}/{v.site_id}"
    st.published.add(key)
    st.awaiting.pop(key, None)
    return []


HANDLERS = {
    "beckn.on_confirm": on_order_confirmed,
    "beckn.on_update": on_grid_update,
    "metering.reading.recorded": on_reading,
    "metering.day.closed": on_day_closed,
    "metering.flexibility.verified": on_verified,
    "beckn.on_discover": ignore,
    "beckn.on_select": ignore,
    "beckn.on_init": ignore,
}
