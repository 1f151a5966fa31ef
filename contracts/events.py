"""Payloads of our internal events, one class per event type (`<context>.<entity>.<verb>`)."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Frozen

Kw = float
NonNegKw = Field(ge=0, le=1e7)


class Event(Frozen):
    """A payload whose class knows its wire type name."""

    TYPE: ClassVar[str]


class ClockAdvanced(Event):
    """Replay time moved to `now`; everything before it may be finalised."""

    TYPE: ClassVar[str] = "sim.clock.advanced"
    now: AwareDatetime
    day_start: AwareDatetime
    day_end: AwareDatetime


class BatterySpec(Frozen):
    power_kw: float = Field(gt=0, le=1e6)
    energy_kwh: float = Field(gt=0, le=1e7)
    initial_soc_pct: float = Field(ge=0, le=100)
    reserve_soc_pct: float = Field(ge=0, le=100)
    round_trip_efficiency: float = Field(gt=0, le=1)
    recharge_from: AwareDatetime | None = None


class SiteRegistered(Event):
    """A data centre CompFlex may place work in."""

    TYPE: ClassVar[str] = "compflex.site.registered"
    site_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    zone: str = Field(min_length=1, max_length=64)
    it_capacity_kw: float = Field(gt=0, le=1e7)
    battery: BatterySpec | None = None


class JobPart(Frozen):
    """A separable share of a training batch with its own criticality."""

    part_id: str = Field(min_length=1, max_length=64)
    power_kw: float = Field(gt=0, le=1e7)
    gpus: int = Field(ge=1, le=10_000_000)
    critical: bool
    migratable: bool


class JobSubmitted(Event):
    """A training batch CompFlex must run: whole, at one site, within its time bounds."""

    TYPE: ClassVar[str] = "compflex.job.submitted"
    job_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    home_site: str | None = None
    earliest_start: AwareDatetime
    deadline: AwareDatetime
    duration_h: float = Field(gt=0, le=24 * 366)
    carbon_target_g_per_kwh: float = Field(ge=0, le=5000)
    parts: tuple[JobPart, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _fits(self) -> JobSubmitted:
        span_h = (self.deadline - self.earliest_start).total_seconds() / 3600
        if span_h + 1e-9 < self.duration_h:
            raise ValueError(f"job {self.job_id}: {self.duration_h} h does not fit before its deadline")
        return self

    @property
    def power_kw(self) -> float:
        return sum(p.power_kw for p in self.parts)


class ZoneSignalPublished(Event):
    """What a grid zone's electricity is like over one settlement period (actual, in force)."""

    TYPE: ClassVar[str] = "grid.signal.published"
    zone: str = Field(min_length=1, max_length=64)
    period_start: AwareDatetime
    period_end: AwareDatetime
    renewable_pct: float = Field(ge=0, le=100)
    carbon_g_per_kwh: float = Field(ge=0, le=5000)
    price_gbp_per_kwh: float = Field(ge=-10, le=100)
    stress_event_id: str | None = None
    marginal_carbon_g_per_kwh: float | None = Field(None, ge=0, le=5000)


class PlacementScheduled(Event):
    """A job part is planned at a site over [start, end) under a confirmed Beckn order."""

    TYPE: ClassVar[str] = "compflex.placement.scheduled"
    job_id: str
    part_id: str
    site_id: str
    zone: str
    start: AwareDatetime
    end: AwareDatetime
    power_kw: float = Field(gt=0, le=1e7)
    critical: bool
    migratable: bool
    order_id: str
    transaction_id: str
    order_capacity_kw: float = Field(gt=0, le=1e7)


class CommandAction(StrEnum):
    PAUSE_JOB = "pause_job"
    START_JOB = "start_job"
    BATTERY_DISCHARGE = "battery_discharge"
    BATTERY_CHARGE = "battery_charge"


class SiteCommandIssued(Event):
    """An instruction to a site's actuators, effective over [start, end) of event time."""

    TYPE: ClassVar[str] = "site.command.issued"
    command_id: str
    site_id: str
    action: CommandAction
    power_kw: float = Field(gt=0, le=1e7)
    start: AwareDatetime
    end: AwareDatetime
    job_id: str | None = None
    part_id: str | None = None
    event_id: str
    reason: str = Field(min_length=1, max_length=500)
    replaces: str | None = None
    """The command this one supersedes (same site): it no longer applies, this one does. A
    replacement whose end equals its start cancels the command."""


class ResponseDispatched(Event):
    """CompFlex's whole answer to one stress event: what it did and what it could not do."""

    TYPE: ClassVar[str] = "fulfilment.response.dispatched"
    event_id: str
    site_id: str
    requested_kw: float = Field(ge=0)
    shifted_kw: float = Field(ge=0)
    shifted_to: tuple[str, ...] = ()
    battery_kw: float = Field(ge=0)
    shortfall_kw: float = Field(ge=0)
    command_ids: tuple[str, ...]
    start: AwareDatetime
    end: AwareDatetime
    paused_kw: float = Field(0.0, ge=0)
    awaiting_capacity_kw: float = Field(0.0, ge=0)
    """Parts paused here until the grid confirms capacity for them at another site."""
    revision: int = Field(0, ge=0)
    """0 for the first answer; each later one (capacity answered, event ended early) is the
    whole answer again and supersedes the earlier ones."""


class MeterReadingRecorded(Event):
    """One premise-level meter interval: grid import, with facility load and battery submeters."""

    TYPE: ClassVar[str] = "metering.reading.recorded"
    site_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime
    import_kwh: float = Field(ge=-1e6, le=1e6)
    load_kwh: float = Field(ge=0, le=1e6)
    battery_discharge_kwh: float = Field(ge=-1e6, le=1e6)
    battery_soc_pct: float | None = Field(
        None, ge=0, le=100,
        description="The battery's state of charge at the interval's end, as its management "
                    "system reports it; absent for a site without a battery (additive, v1)")

    @model_validator(mode="after")
    def _consistent(self) -> MeterReadingRecorded:
        if self.end <= self.start:
            raise ValueError("reading interval must have end > start")
        if abs(self.load_kwh - self.battery_discharge_kwh - self.import_kwh) > 1e-6:
            raise ValueError("import_kwh must equal load_kwh - battery_discharge_kwh")
        return self


class MeterDayClosed(Event):
    """The site's meter has reported every interval of the day."""

    TYPE: ClassVar[str] = "metering.day.closed"
    site_id: str
    day_start: AwareDatetime
    day_end: AwareDatetime
    readings: int = Field(ge=0)


class Verdict(StrEnum):
    DELIVERED = "delivered"
    PARTIAL = "partial"
    FAILED = "failed"


class SiteDelta(Frozen):
    site_id: str
    baseline_kw: float
    metered_kw: float
    increase_kwh: float = 0.0
    """Metered minus baseline over the event's fully metered periods."""
    baseline_days: tuple[date, ...] = ()


class IntervalDelivery(Frozen):
    """One settlement period of the event at the stressed site: D = baseline - metered."""

    start: AwareDatetime
    end: AwareDatetime
    baseline_kwh: float
    metered_kwh: float | None = None
    """None when the period's readings are missing (or overlap): no delivery is credited."""
    delivered_kwh: float


class FlexibilityVerified(Event):
    """Measured response to one stress event against the programme's baseline.

    `baseline_method` names the method (`nominated`: the confirmed orders' load; `dfs`,
    `caiso_10_in_10`, `high_5_of_10`: from the site's metered history, `baseline_days`). A
    refused baseline (too little history) gives verdict `failed`, zero delivery and the reason
    in `reasons`. Accuracy is the method's RRMSE on non-event days (`rrmse_pct`), flagged above
    the programme's limit; `pre_event_uplift_pct` is the load in the hours before the event over
    its baseline, and `gaming_suspected` is set when it exceeds the programme's limit.
    """

    TYPE: ClassVar[str] = "metering.flexibility.verified"
    event_id: str
    order_id: str
    transaction_id: str
    site_id: str
    start: AwareDatetime
    end: AwareDatetime
    requested_kw: float
    baseline_kw: float
    metered_kw: float
    delivered_kw: float
    delivered_kwh: float
    delivered_pct: float
    verdict: Verdict
    receiving: tuple[SiteDelta, ...] = ()
    net_system_kw: float
    baseline_method: str = "nominated"
    baseline_days: tuple[date, ...] = ()
    adjustment_kwh: float = 0.0
    rrmse_pct: float | None = None
    accuracy_days: int = 0
    accuracy_flagged: bool = False
    pre_event_uplift_pct: float | None = None
    gaming_suspected: bool = False
    baseline_refused: bool = False
    missing_intervals: int = 0
    net_system_kwh: float | None = None
    intervals: tuple[IntervalDelivery, ...] = ()
    reasons: tuple[str, ...] = ()


class SiteSettlement(Frozen):
    """A site's day: metered import vs the nominated baseline, priced in force.

    The battery figures are already inside `energy_kwh`/`cost_gbp`/`carbon_kg` (the recharge is
    metered import); they are shown so the savings can be read net of them. Marginal carbon is
    None unless a marginal factor was in force for every interval of the day, and is never
    added to the location-based figures.
    """

    site_id: str
    zone: str
    energy_kwh: float
    cost_gbp: float
    carbon_kg: float
    baseline_energy_kwh: float
    baseline_cost_gbp: float
    baseline_carbon_kg: float
    load_kw_before_event: float
    load_kw_after_event: float
    import_kw_after_event: float
    missing_readings: int
    load_kwh: float = 0.0
    marginal_carbon_kg: float | None = None
    baseline_marginal_carbon_kg: float | None = None
    battery_charge_kwh: float = 0.0
    battery_discharge_kwh: float = 0.0
    battery_losses_kwh: float = 0.0
    battery_recharge_cost_gbp: float = 0.0
    battery_recharge_carbon_kg: float = 0.0
    battery_losses_cost_gbp: float = 0.0
    battery_losses_carbon_kg: float = 0.0


class ItemSettlement(Frozen):
    """One order item (a line's slot): its share of the site's import inside the slot."""

    item_id: str
    line_id: str
    slot_start: AwareDatetime
    slot_end: AwareDatetime
    energy_kwh: float
    cost_gbp: float
    carbon_kg: float
    baseline_energy_kwh: float
    baseline_cost_gbp: float
    baseline_carbon_kg: float
    verified_kwh: float = 0.0
    utilisation_payment_gbp: float = 0.0
    availability_payment_gbp: float = 0.0


class OrderSettlement(Frozen):
    order_id: str
    transaction_id: str
    site_id: str
    energy_kwh: float
    cost_gbp: float
    carbon_kg: float
    baseline_cost_gbp: float
    baseline_carbon_kg: float
    flex_payment_gbp: float
    baseline_energy_kwh: float = 0.0
    marginal_carbon_kg: float | None = None
    baseline_marginal_carbon_kg: float | None = None
    utilisation_payment_gbp: float = 0.0
    availability_payment_gbp: float = 0.0
    verified_kwh: float = 0.0
    delivered_pct: float | None = None
    performance_factor: float | None = None
    battery_recharge_cost_gbp: float = 0.0
    battery_losses_kwh: float = 0.0
    items: tuple[ItemSettlement, ...] = ()


class EventSettlement(Frozen):
    """What one verified stress event earned: the utilisation payment and how it was reached."""

    event_id: str
    site_id: str
    order_id: str
    transaction_id: str
    start: AwareDatetime
    end: AwareDatetime
    requested_kw: float
    baseline_kw: float
    metered_kw: float
    delivered_kw: float
    delivered_kwh: float
    delivered_pct: float
    verdict: Verdict
    net_system_kw: float
    performance_factor: float
    utilisation_rate_gbp_per_mwh: float
    paid_kwh: float
    utilisation_payment_gbp: float


class IntervalSettlement(Frozen):
    """One settlement interval of a site (order_id None) or of one order at that site: a row
    view of `SiteDaySettled` (see `SiteDaySettled.rows`), not sent on its own."""

    start: AwareDatetime
    end: AwareDatetime
    order_id: str | None = None
    energy_kwh: float
    load_kwh: float = 0.0
    battery_discharge_kwh: float = 0.0
    baseline_kwh: float
    price_gbp_per_kwh: float
    carbon_g_per_kwh: float
    marginal_carbon_g_per_kwh: float | None = None
    cost_gbp: float
    baseline_cost_gbp: float
    carbon_kg: float
    baseline_carbon_kg: float
    marginal_carbon_kg: float | None = None
    baseline_marginal_carbon_kg: float | None = None
    metered_hours: float = 0.0


Column = tuple[float, ...]


class IntervalSeries(Frozen):
    """Per-interval figures of a site (order_id None) or of one order's share of it, as
    columns: entry k is the interval starting day_start + k x interval_minutes. Marginal
    columns only when a marginal factor was in force in every interval; load, battery and
    metered hours only for the site."""

    order_id: str | None = None
    energy_kwh: Column
    baseline_kwh: Column
    cost_gbp: Column
    baseline_cost_gbp: Column
    carbon_kg: Column
    baseline_carbon_kg: Column
    marginal_carbon_kg: Column | None = None
    baseline_marginal_carbon_kg: Column | None = None
    load_kwh: Column = ()
    battery_discharge_kwh: Column = ()
    metered_hours: Column = ()


class SiteDaySettled(Event):
    """A site's settled day interval by interval; published on the statements topic before the
    day's statement. `orders` (each order's share) only when the site has several orders: a
    single order's intervals are the site's."""

    TYPE: ClassVar[str] = "settlement.site.settled"
    day_start: AwareDatetime
    day_end: AwareDatetime
    site_id: str
    zone: str
    interval_minutes: int = Field(ge=1, le=1440)
    price_gbp_per_kwh: Column
    carbon_g_per_kwh: Column
    marginal_carbon_g_per_kwh: Column | None = None
    site: IntervalSeries
    orders: tuple[IntervalSeries, ...] = ()

    @model_validator(mode="after")
    def _columns_cover_the_day(self) -> SiteDaySettled:
        n = (self.day_end - self.day_start) / timedelta(minutes=self.interval_minutes)
        for name, col in (("price_gbp_per_kwh", self.price_gbp_per_kwh),
                          ("carbon_g_per_kwh", self.carbon_g_per_kwh),
                          ("site.energy_kwh", self.site.energy_kwh),
                          *((f"orders.{o.order_id}.energy_kwh", o.energy_kwh)
                            for o in self.orders)):
            if len(col) != n:
                raise ValueError(f"{name} has {len(col)} intervals, the day has {n:g}")
        return self

    def rows(self, order_id: str | None = None) -> list[IntervalSettlement]:
        """The intervals of the site, or of one of its orders, as rows."""
        s = self.site if order_id is None or not self.orders else next(
            (o for o in self.orders if o.order_id == order_id), None)
        if s is None:
            return []
        step = timedelta(minutes=self.interval_minutes)
        site = self.site
        out = []
        for k, e in enumerate(s.energy_kwh):
            t = self.day_start + k * step
            out.append(IntervalSettlement(
                start=t, end=t + step, order_id=order_id, energy_kwh=e,
                load_kwh=site.load_kwh[k] if s is site and site.load_kwh else 0.0,
                battery_discharge_kwh=(site.battery_discharge_kwh[k]
                                       if s is site and site.battery_discharge_kwh else 0.0),
                baseline_kwh=s.baseline_kwh[k], price_gbp_per_kwh=self.price_gbp_per_kwh[k],
                carbon_g_per_kwh=self.carbon_g_per_kwh[k],
                marginal_carbon_g_per_kwh=(None if self.marginal_carbon_g_per_kwh is None
                                           else self.marginal_carbon_g_per_kwh[k]),
                cost_gbp=s.cost_gbp[k], baseline_cost_gbp=s.baseline_cost_gbp[k],
                carbon_kg=s.carbon_kg[k], baseline_carbon_kg=s.baseline_carbon_kg[k],
                marginal_carbon_kg=(None if s.marginal_carbon_kg is None
                                    else s.marginal_carbon_kg[k]),
                baseline_marginal_carbon_kg=(None if s.baseline_marginal_carbon_kg is None
                                             else s.baseline_marginal_carbon_kg[k]),
                metered_hours=site.metered_hours[k] if s is site and site.metered_hours else 0.0))
        return out


class SettlementStatementIssued(Event):
    """The day's settlement: per-site and per-order energy, money and carbon, before vs after."""

    TYPE: ClassVar[str] = "settlement.statement.issued"
    day_start: AwareDatetime
    day_end: AwareDatetime
    sites: tuple[SiteSettlement, ...]
    orders: tuple[OrderSettlement, ...]
    shifted_kw: float
    battery_kw: float
    verified_kw: float
    verified_kwh: float
    net_system_kw: float
    flex_payment_gbp: float
    baseline_cost_gbp: float
    actual_cost_gbp: float
    baseline_carbon_kg: float
    actual_carbon_kg: float
    events: tuple[EventSettlement, ...] = ()
    utilisation_payment_gbp: float = 0.0
    availability_payment_gbp: float = 0.0
    baseline_energy_kwh: float = 0.0
    actual_energy_kwh: float = 0.0
    battery_recharge_cost_gbp: float = 0.0
    battery_recharge_carbon_kg: float = 0.0
    battery_losses_kwh: float = 0.0
    baseline_marginal_carbon_kg: float | None = None
    actual_marginal_carbon_kg: float | None = None
    interval_minutes: int = 30
    config_digest: str = ""
    inputs_digest: str = ""


class AuditEntryAppended(Event):
    """One link of the audit hash chain (contracts/audit.py describes the body).

    `body` is canonical JSON (sorted keys, no whitespace, UTF-8); `hash` is the hex SHA-256 of
    `prev_hash` + `body`; the first entry's `prev_hash` is 64 zeros.
    """

    TYPE: ClassVar[str] = "audit.entry.appended"
    seq: int = Field(ge=0)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    body: str = Field(min_length=2, max_length=4_000_000)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        ClockAdvanced,
        SiteRegistered,
        JobSubmitted,
        ZoneSignalPublished,
        PlacementScheduled,
        SiteCommandIssued,
        ResponseDispatched,
        MeterReadingRecorded,
        MeterDayClosed,
        FlexibilityVerified,
        SiteDaySettled,
        SettlementStatementIssued,
        AuditEntryAppended,
    )
}
