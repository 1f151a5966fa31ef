"""Small builders for the unit tests: the seed day's instants, sites, placements, Beckn messages.

Every builder returns the typed objects the services exchange, so a test reads like the message
traffic it stands for. Figures default to the seed scenario (scenarios/seed-cambridge-manchester).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from contracts.beckn.models import (
    Action,
    BecknMessage,
    Buyer,
    Catalog,
    Context,
    Descriptor,
    DiscoverMessage,
    Error,
    Item,
    OnDiscoverMessage,
    Order,
    OrderAttributes,
    OrderItem,
    OrderMessage,
    OrderStatus,
    Provider,
    Quantity,
    TimePeriod,
)
from contracts.compute_energy.vocab import (
    ComputeEnergyWindow,
    FlexibilityAction,
    GridStressEvent,
    OrderLine,
)
from contracts.envelope import Envelope
from contracts.events import (
    BatterySpec,
    ClockAdvanced,
    Event,
    FlexibilityVerified,
    MeterDayClosed,
    MeterReadingRecorded,
    PlacementScheduled,
    ResponseDispatched,
    SiteDelta,
    SiteRegistered,
    Verdict,
)
from contracts.scenario import Scenario, load_scenario
from services.common.codec import Message, envelope
from services.common.ids import stable_id
from services.common.runner import Inbound
from services.grid_signal.domain import zone_signals

SEED_PATH = Path(__file__).resolve().parents[2] / "scenarios" / "seed-cambridge-manchester.yaml"
DAY = datetime(2025, 11, 17, tzinfo=timezone.utc)

BAP_ID, BAP_URI = "compflex.computecloud.example", "https://compflex.computecloud.example/beckn"
BPP_ID, BPP_URI = "gridflex.grid.example", "https://gridflex.grid.example/beckn"

CAMBRIDGE, MANCHESTER = "cambridge-east", "manchester"
EAST_10_14, EAST_14_18 = "window-uk-east-1000-1400", "window-uk-east-1400-1800"
NW_10_14, NW_14_18 = "window-uk-nw-1000-1400", "window-uk-nw-1400-1800"
STRESS_ID = "stress-uk-east-1400"

CAMBRIDGE_TXN = stable_id("order", "order-cambridge-east-20251117")
MANCHESTER_TXN = stable_id("order", "order-manchester-20251117")


def at(hhmm: str) -> datetime:
    """The seed day's instant for HH:MM (24:00 is the next midnight), UTC."""
    h, m = hhmm.split(":")
    return DAY + timedelta(hours=int(h), minutes=int(m))


# ---- scenarios ---------------------------------------------------------------------------------


@cache
def seed() -> Scenario:
    return load_scenario(SEED_PATH)


def seed_doc() -> dict[str, Any]:
    """The seed scenario as a fresh, editable document (for edge-case variants)."""
    return copy.deepcopy(yaml.safe_load(SEED_PATH.read_text(encoding="utf-8")))


def scenario(doc: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(doc)


# ---- inventory and plans -----------------------------------------------------------------------


def battery(**kw: Any) -> BatterySpec:
    """Cambridge-East's battery: 200 kW / 400 kWh, 90 % charged, 10 % reserve, 90 % round trip."""
    spec: dict[str, Any] = dict(power_kw=200, energy_kwh=400, initial_soc_pct=90,
                                reserve_soc_pct=10, round_trip_efficiency=0.9,
                                recharge_from=at("22:00"))
    spec.update(kw)
    return BatterySpec(**spec)


def site(site_id: str = CAMBRIDGE, zone: str = "UK-EAST", it_capacity_kw: float = 1500,
         batt: BatterySpec | None = None) -> SiteRegistered:
    return SiteRegistered(site_id=site_id, name=site_id, zone=zone,
                          it_capacity_kw=it_capacity_kw, battery=batt)


def cambridge_site() -> SiteRegistered:
    return site(CAMBRIDGE, "UK-EAST", 1500, battery())


def manchester_site() -> SiteRegistered:
    return site(MANCHESTER, "UK-NW", 1500)


def placement(job_id: str, part_id: str, site_id: str, start: str, end: str, power_kw: float,
              *, critical: bool = False, migratable: bool = True,
              order_capacity_kw: float = 1500, txn: str | None = None) -> PlacementScheduled:
    zone = "UK-NW" if site_id == MANCHESTER else "UK-EAST"
    txn = txn or stable_id("order", f"order-{site_id}-20251117")
    return PlacementScheduled(
        job_id=job_id, part_id=part_id, site_id=site_id, zone=zone, start=at(start),
        end=at(end), power_kw=power_kw, critical=critical, migratable=migratable,
        order_id=f"order-{site_id}-20251117", transaction_id=txn,
        order_capacity_kw=order_capacity_kw)


def seed_placements() -> list[PlacementScheduled]:
    """What the planner schedules on the seed day."""
    return [
        placement("batch-a", "core", CAMBRIDGE, "10:00", "16:00", 900, critical=True,
                  migratable=False),
        placement("batch-a", "sweep", CAMBRIDGE, "10:00", "16:00", 300),
        placement("batch-b", "main", MANCHESTER, "14:00", "18:00", 1200),
    ]


# ---- Beckn -------------------------------------------------------------------------------------


def context(action: Action, txn: str, *, message_id: str | None = None,
            timestamp: datetime | None = None) -> Context:
    return Context(action=action, bap_id=BAP_ID, bap_uri=BAP_URI, bpp_id=BPP_ID,
                   bpp_uri=BPP_URI, transaction_id=txn,
                   message_id=message_id or stable_id(action.value, txn, "test"),
                   timestamp=timestamp or at("08:00"))


def line(site_id: str, start: str, end: str, load_kw: float = 1200, *,
         capacity_kw: float = 1500, job_ids: tuple[str, ...] = ("batch-a",),
         confirmed_kw: float | None = None) -> OrderLine:
    zone = "UK-NW" if site_id == MANCHESTER else "UK-EAST"
    hours = (at(end) - at(start)).total_seconds() / 3600
    return OrderLine(site_id=site_id, grid_zone=zone, slot_start=at(start), slot_end=at(end),
                     compute_load_kw=load_kw, capacity_kw=capacity_kw, gpu_hours=0,
                     energy_kwh=load_kw * hours, carbon_target_g_per_kwh=150,
                     job_ids=job_ids, confirmed_capacity_kw=confirmed_kw)


def order(order_id: str, lines: list[tuple[str, OrderLine]], *,
          status: OrderStatus = OrderStatus.CREATED,
          attributes: OrderAttributes | None = None) -> Order:
    """An order whose lines are (window item id, line attributes)."""
    items = tuple(OrderItem(line_id=f"{ln.job_ids[0]}@{wid}", ordered_item=wid,
                            quantity=Quantity(unit_quantity=ln.compute_load_kw), attributes=ln)
                  for wid, ln in lines)
    return Order(id=order_id, status=status, seller="gridflex",
                 buyer=Buyer(id="computecloud"), items=items, attributes=attributes)


def cambridge_order(status: OrderStatus = OrderStatus.CREATED, *, order_id: str | None = None,
                    confirmed: bool = False) -> Order:
    """Batch-a's order: 1200 kW in the UK-EAST 10-14 window and 14-16 of the 14-18 one."""
    kw = 1500 if confirmed else None
    return order(order_id or "order-cambridge-east-20251117", [
        (EAST_10_14, line(CAMBRIDGE, "10:00", "14:00", confirmed_kw=kw)),
        (EAST_14_18, line(CAMBRIDGE, "14:00", "16:00", confirmed_kw=kw)),
    ], status=status)


def manchester_order(status: OrderStatus = OrderStatus.CREATED, *,
                     confirmed: bool = False) -> Order:
    """Batch-b's order: 1200 kW in the UK-NW 14-18 window."""
    kw = 1500 if confirmed else None
    return order("order-manchester-20251117", [
        (NW_14_18, line(MANCHESTER, "14:00", "18:00", job_ids=("batch-b",), confirmed_kw=kw)),
    ], status=status)


def beckn(action: Action, txn: str, body: Order | OnDiscoverMessage | DiscoverMessage, *,
          error: tuple[str, str] | None = None, message_id: str | None = None,
          timestamp: datetime | None = None) -> BecknMessage:
    message = OrderMessage(order=body) if isinstance(body, Order) else body
    err = None if error is None else Error(code=error[0], message=error[1])
    return BecknMessage(context=context(action, txn, message_id=message_id, timestamp=timestamp),
                        message=message, error=err)


def stress_event(requested_kw: float = 450, start: str = "14:00", end: str = "16:00",
                 event_id: str = STRESS_ID) -> GridStressEvent:
    return GridStressEvent(event_id=event_id, grid_zone="UK-EAST", start=at(start), end=at(end),
                           renewable_pct=45, carbon_intensity_g_per_kwh=134,
                           price_delta_gbp_per_kwh=0.03, requested_reduction_kw=requested_kw,
                           utilisation_payment_gbp_per_mwh=150)


def stress_update(ev: GridStressEvent | None = None) -> BecknMessage:
    """The grid's unsolicited on_update raising the seed stress event on Cambridge's order."""
    ev = ev or stress_event()
    body = cambridge_order(OrderStatus.INPROGRESS, confirmed=True).model_copy(
        update={"attributes": ev})
    return beckn(Action.ON_UPDATE, CAMBRIDGE_TXN, body,
                 message_id=stable_id("on_update", CAMBRIDGE_TXN, ev.event_id),
                 timestamp=ev.start)


def receiving_answer(new_load_kw: float = 1500, accepted: bool | None = True) -> BecknMessage:
    """The grid's answer to CompFlex's receiving-site update on Manchester's order."""
    act = FlexibilityAction(event_id=STRESS_ID, role="receiving_site", reduction_kw=0,
                            shifted_kw=300, battery_kw=0, new_compute_load_kw=new_load_kw,
                            actions=(), accepted=accepted)
    body = manchester_order(OrderStatus.INPROGRESS, confirmed=True).model_copy(
        update={"attributes": act})
    return beckn(Action.ON_UPDATE, MANCHESTER_TXN, body, timestamp=at("14:00"))


def window_item(item_id: str, zone: str, start: str, end: str, price: float, carbon: float,
                capacity_kw: float = 1500, renewable: float = 50) -> Item:
    provider = Provider(id="gridflex", descriptor=Descriptor(name="GridFlexAgent"))
    return Item(id=item_id, descriptor=Descriptor(name=item_id), provider=provider,
                availability_window=(TimePeriod(start=at(start), end=at(end)),),
                item_attributes=ComputeEnergyWindow(
                    grid_zone=zone, grid_area=zone, start=at(start), end=at(end),
                    renewable_pct=renewable, carbon_intensity_g_per_kwh=carbon,
                    price_gbp_per_kwh=price, capacity_kw=capacity_kw))


def seed_catalog() -> OnDiscoverMessage:
    """The four windows GridFlexAgent offers at 08:00 on the seed day."""
    items = (
        window_item(EAST_10_14, "UK-EAST", "10:00", "14:00", 0.102, 36, renewable=80),
        window_item(NW_10_14, "UK-NW", "10:00", "14:00", 0.110, 106, renewable=55),
        window_item(EAST_14_18, "UK-EAST", "14:00", "18:00", 0.102, 86, renewable=62),
        window_item(NW_14_18, "UK-NW", "14:00", "18:00", 0.092, 50, renewable=75),
    )
    return OnDiscoverMessage(catalogs=(Catalog(
        id="catalog-2025-11-17", descriptor=Descriptor(name="windows"), provider_id="gridflex",
        bpp_id=BPP_ID, bpp_uri=BPP_URI, validity=TimePeriod(start=at("00:00"), end=at("24:00")),
        items=items, offers=()),))


# ---- internal events ---------------------------------------------------------------------------


def env(event: Event, *, time: datetime | None = None, id: str | None = None) -> Envelope[Any]:
    time = time or at("00:00")
    return envelope(event, id=id or stable_id("test", event.TYPE, event.model_dump_json()),
                    time=time, source="unit-test")


def tick(now: str) -> Envelope[Any]:
    return env(ClockAdvanced(now=at(now), day_start=at("00:00"), day_end=at("24:00")),
               time=at(now))


def reading(site_id: str, start: str, end: str, load_kwh: float,
            battery_kwh: float = 0.0) -> MeterReadingRecorded:
    return MeterReadingRecorded(site_id=site_id, start=at(start), end=at(end),
                                import_kwh=load_kwh - battery_kwh, load_kwh=load_kwh,
                                battery_discharge_kwh=battery_kwh)


def inbound(value: Envelope[Any] | BecknMessage, topic: str = "test.topic") -> Inbound:
    """What the runner hands a handler once it has decoded a record."""
    if isinstance(value, BecknMessage):
        kind = f"beckn.{value.context.action.value}"
        message_id = f"{kind}:{value.context.message_id}"
    else:
        kind, message_id = value.type, value.id
    return Inbound(topic=topic, partition=0, offset=0, key=None, kind=kind,
                   message_id=message_id, value=value, timestamp_ms=0)


# ---- the seed day metered hourly (the hours align with every price block) ---------------------


def hourly_readings(spans: dict[str, tuple[float, float]],
                    site_id: str) -> list[MeterReadingRecorded]:
    """A whole day of hourly readings: (load kWh, battery discharge kWh) for the hours given
    by their start, nothing otherwise."""
    out = []
    for h in range(24):
        start, end = f"{h:02d}:00", f"{h + 1:02d}:00"
        load, batt = spans.get(start, (0.0, 0.0))
        out.append(reading(site_id, start, end, load, batt))
    return out


def seed_cambridge_readings() -> list[MeterReadingRecorded]:
    """Batch-a 10-16 with the sweep moved away and the battery at 150 kW during 14-16, then the
    22:00 recharge: 200 kW for 1 h 40 min = 333.33 kWh."""
    return hourly_readings({
        **{f"{h}:00": (1200, 0) for h in (10, 11, 12, 13)},
        "14:00": (900, 150), "15:00": (900, 150),  # sweep moved, battery at 150 kW
        "22:00": (0, -200), "23:00": (0, -400 / 3),  # 200 kWh, then 200 kW x 40 min
    }, CAMBRIDGE)


def seed_manchester_readings() -> list[MeterReadingRecorded]:
    """Batch-b 14-18 at 1200 kW plus batch-a/sweep's 300 kW during 14-16."""
    return hourly_readings({"14:00": (1500, 0), "15:00": (1500, 0), "16:00": (1200, 0),
                            "17:00": (1200, 0)}, MANCHESTER)


# ---- what settlement consumes on the seed day --------------------------------------------------

Record = tuple[str, str, Message]  # (catalogue topic, key, record)


def seed_verified(delivered_kw: float = 450, pct: float = 100) -> FlexibilityVerified:
    """The validator's verdict on Cambridge's 14:00-16:00 response (Manchester took 300 kW)."""
    return FlexibilityVerified(
        event_id=STRESS_ID, order_id="order-cambridge-east-20251117",
        transaction_id=CAMBRIDGE_TXN, site_id=CAMBRIDGE, start=at("14:00"), end=at("16:00"),
        requested_kw=450, baseline_kw=1200, metered_kw=1200 - delivered_kw,
        delivered_kw=delivered_kw, delivered_kwh=delivered_kw * 2, delivered_pct=pct,
        verdict=Verdict.DELIVERED,
        receiving=(SiteDelta(site_id=MANCHESTER, baseline_kw=1200, metered_kw=1500),),
        net_system_kw=delivered_kw - 300)


def seed_response() -> ResponseDispatched:
    """The load-shifter's answer to the stress event: 300 kW to Manchester, battery 150 kW."""
    return ResponseDispatched(event_id=STRESS_ID, site_id=CAMBRIDGE, requested_kw=450,
                              shifted_kw=300, shifted_to=(MANCHESTER,), battery_kw=150,
                              shortfall_kw=0, command_ids=("c1",), start=at("14:00"),
                              end=at("16:00"))


def day_closed(site_id: str) -> MeterDayClosed:
    """The site's meter has the whole seed day (24 hourly readings)."""
    return MeterDayClosed(site_id=site_id, day_start=at("00:00"), day_end=at("24:00"),
                          readings=24)


@dataclass(frozen=True)
class SettlementDay:
    """The seed day as settlement reads it, part by part, each a list of `Record`s."""

    signals: list[Record]
    confirmations: list[Record]
    stress: list[Record]
    readings: list[Record]
    closures: list[Record]
    verification: list[Record]
    response: list[Record]

    def records(self) -> list[Record]:
        """Every part, the response last: the one piece that completes the day."""
        return [*self.signals, *self.confirmations, *self.stress, *self.readings,
                *self.closures, *self.verification, *self.response]


def settlement_day() -> SettlementDay:
    return SettlementDay(
        signals=[("grid.signals.v1", zone, env(s)) for zone in ("UK-EAST", "UK-NW")
                 for s in zone_signals(seed(), zone)],
        confirmations=[("beckn.callbacks.v1", txn, beckn(Action.ON_CONFIRM, txn, o)) for txn, o in (
            (CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
            (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True)))],
        stress=[("beckn.callbacks.v1", CAMBRIDGE_TXN, stress_update())],
        readings=[("metering.readings.v1", r.site_id, env(r))
                  for r in [*seed_cambridge_readings(), *seed_manchester_readings()]],
        closures=[("metering.readings.v1", s, env(day_closed(s))) for s in (CAMBRIDGE, MANCHESTER)],
        verification=[("metering.verifications.v1", CAMBRIDGE, env(seed_verified()))],
        response=[("fulfilment.responses.v1", CAMBRIDGE, env(seed_response()))])


def feed(handlers: Mapping[str, Callable[[Any, Inbound], Sequence[Any]]], state: Any,
         records: Sequence[Record]) -> list[Any]:
    """Each record through the handler for its kind, as the runner would; every output."""
    outs: list[Any] = []
    for _, _, value in records:
        m = inbound(value)
        outs += handlers[m.kind](state, m)
    return outs
