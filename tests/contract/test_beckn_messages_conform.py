"""Every kind of Beckn message we produce, made by the real pure handlers on the seed day, conforms
to the official v2.0.0-rc schema, survives a wire round trip, and carries bags that fit schema.json.

The seven services' handlers are driven in memory, no Kafka: each output is encoded and decoded by
the codec (as the runner does) and handed to every consumer the topic catalogue names, ticks in
the order the replay driver publishes them, each tick's consequences drained before the next.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from contracts.beckn.conformance import beckn_errors
from contracts.beckn.models import (
    Action,
    BecknMessage,
    OnDiscoverMessage,
    OrderMessage,
    OrderStatus,
)
from contracts.compute_energy.vocab import (
    ComputeEnergyWindow,
    FlexibilityAction,
    GridStressEvent,
    OrderLine,
    SettlementMetrics,
)
from contracts.envelope import Envelope
from contracts.events import ClockAdvanced
from contracts.export import EVENTS_PATH, SCHEMA_PATH
from contracts.scenario import Scenario, load_scenario
from contracts.topics import CATALOGUE, CLOCK, JOBS, SITES, Topic
from services.audit import handlers as audit
from services.audit.domain import Chain
from services.common.beckn import Parties
from services.common.codec import decode, encode, envelope
from services.common.ids import stable_id
from services.common.runner import Dedupe, HandlerRejected, Inbound, Out
from services.grid_signal import handlers as grid
from services.load_shifter import handlers as shifter
from services.metering_validator import handlers as validator
from services.planner import handlers as planner
from services.replay.domain import jobs_of, sites_of, tick_times
from services.settlement import handlers as settlement
from services.site_simulator import handlers as simulator

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "seed-cambridge-manchester.yaml"
CONTEXT_TERMS = json.loads(SCHEMA_PATH.with_name("context.jsonld").read_text())["@context"]

Handler = Callable[[Any, Inbound], Sequence[Out]]


@dataclass
class Service:
    state: Any
    handlers: Mapping[str, Handler]
    dedupe: Dedupe = field(default_factory=Dedupe)


@dataclass
class Day:
    """The services on an in-memory bus: every record produced, in production order."""

    services: dict[str, Service]
    records: list[Out] = field(default_factory=list)
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)
    _queue: deque[Out] = field(default_factory=deque)
    _offsets: dict[str, int] = field(default_factory=dict)

    def publish(self, out: Out) -> None:
        self.records.append(out)
        self._queue.append(out)

    def drain(self) -> None:
        while self._queue:
            out = self._queue.popleft()
            raw = encode(out.value)
            offset = self._offsets.get(out.topic.name, 0)
            self._offsets[out.topic.name] = offset + 1
            for name in out.topic.consumers:
                self.deliver(name, out.topic, out.key, raw, offset)

    def deliver(self, name: str, topic: Topic, key: str, raw: bytes, offset: int) -> None:
        """What services.common.runner.Runner._process does with one record, minus Kafka."""
        svc = self.services[name]
        decoded = decode(raw)
        handler = svc.handlers.get(decoded.kind)
        if handler is None or decoded.kind not in topic.types:
            self.dead_letters.append((name, decoded.kind, "unexpected_type"))
            return
        if not svc.dedupe.first_time(decoded.message_id):
            return
        inbound = Inbound(topic.name, 0, offset, key.encode(), decoded.kind,
                          decoded.message_id, decoded.value, 0)
        try:
            outs = handler(svc.state, inbound)
        except HandlerRejected as exc:
            self.dead_letters.append((name, decoded.kind, exc.reason))
            return
        for out in outs:
            self.publish(out)

    def beckn(self) -> list[BecknMessage]:
        return [o.value for o in self.records if isinstance(o.value, BecknMessage)]


def services_for(sc: Scenario) -> dict[str, Service]:
    bap, bpp = sc.participants.bap, sc.participants.bpp
    parties = Parties(bap.id, bap.uri, bpp.id, bpp.uri)
    return {
        "grid-signal": Service(grid.GridState.from_scenario(sc), grid.HANDLERS),
        "planner": Service(planner.PlannerState(parties, bap.buyer_id or bap.id, bap.name,
                                                sc.carbon_price_gbp_per_tonne),
                           planner.HANDLERS),
        "load-shifter": Service(shifter.ShifterState(), shifter.HANDLERS),
        "metering-validator": Service(validator.ValidatorState(), validator.HANDLERS),
        "settlement": Service(settlement.SettlementState(), settlement.HANDLERS),
        "site-simulator": Service(
            simulator.SiteSimState(resolution=timedelta(minutes=sc.meter_resolution_minutes)),
            simulator.HANDLERS),
        "audit": Service(audit.AuditState.recovered({"test": "conformance"}, Chain()),
                         audit.HANDLERS),
    }


def replay(sc: Scenario) -> Day:
    """The seed day as services.replay.driver.replay_day publishes it, barrier after each step."""
    day = Day(services_for(sc))
    source = "scenario-replay"
    for s in sites_of(sc):
        day.publish(Out(SITES, s.site_id, envelope(s, id=stable_id("site", sc.day, s.site_id),
                                                   time=sc.day_start, source=source)))
    day.drain()
    discovery = sc.at(sc.discovery_at)
    for t in tick_times(sc):
        if t == discovery:
            for j in jobs_of(sc):
                day.publish(Out(JOBS, j.job_id, envelope(j, id=stable_id("job", j.job_id),
                                                         time=t, source=source)))
        tick = ClockAdvanced(now=t, day_start=sc.day_start, day_end=sc.day_end)
        day.publish(Out(CLOCK, sc.day.isoformat(), envelope(
            tick, id=stable_id("tick", t.isoformat()), time=t, source=source)))
        day.drain()
    return day


def call(handler: Handler, state: Any, msg: BecknMessage) -> list[BecknMessage]:
    """One direct handler call with a decoded copy of `msg`, as the runner would make it."""
    decoded = decode(encode(msg))
    inbound = Inbound("direct", 0, 0, msg.context.transaction_id.encode(), decoded.kind,
                      decoded.message_id, decoded.value, 0)
    return [o.value for o in handler(state, inbound)]


def order_attrs(msg: BecknMessage) -> Any:
    assert isinstance(msg.message, OrderMessage)
    return msg.message.order.attributes


def refused_confirm(day: Day, confirm: BecknMessage) -> BecknMessage:
    """A second order for the same windows: the grid has no capacity left (40002)."""
    assert isinstance(confirm.message, OrderMessage)
    order = confirm.message.order.model_copy(update={"id": "order-late-comer"})
    txn = stable_id("order", order.id)
    ctx = confirm.context.model_copy(update={"transaction_id": txn,
                                             "message_id": stable_id("confirm", txn)})
    late = BecknMessage(context=ctx, message=OrderMessage(order=order))
    (answer,) = call(grid.on_confirm, day.services["grid-signal"].state, late)
    return answer


def refused_update(day: Day, receiving: BecknMessage) -> BecknMessage:
    """A receiving-site update asking for more than the capacity confirmed for it (40002)."""
    assert isinstance(receiving.message, OrderMessage)
    order = receiving.message.order
    act = order_attrs(receiving)
    greedy = order.model_copy(update={"attributes": act.model_copy(
        update={"new_compute_load_kw": act.new_compute_load_kw + 1000})})
    ctx = receiving.context.model_copy(update={"message_id": stable_id("greedy")})
    msg = BecknMessage(context=ctx, message=OrderMessage(order=greedy))
    (answer,) = call(grid.on_update, day.services["grid-signal"].state, msg)
    return answer


def classify(msg: BecknMessage) -> str:
    action = msg.context.action.value
    if msg.error is not None:
        return f"{action} refused {msg.error.code}"
    attrs = order_attrs(msg) if isinstance(msg.message, OrderMessage) else None
    if isinstance(attrs, GridStressEvent):
        return f"{action} stress event"
    if isinstance(attrs, FlexibilityAction):
        return f"{action} {attrs.role}" + (" answer" if action == "on_update" else "")
    if isinstance(attrs, SettlementMetrics):
        return f"{action} {msg.message.order.status.value}"  # type: ignore[union-attr]
    return action


# kind -> how many the seed day (plus the two refusals made directly) produces
EXPECTED = {
    "discover": 1,
    "on_discover": 1,
    "select": 2,
    "on_select": 2,
    "init": 2,
    "on_init": 2,
    "confirm": 2,
    "on_confirm": 2,
    "on_confirm refused 40002": 1,
    "on_update stress event": 1,
    "update stressed_site": 1,
    "update receiving_site": 1,
    "on_update stressed_site answer": 1,
    "on_update receiving_site answer": 1,
    "on_update refused 40002": 1,
    "on_status COMPLETED": 2,
}


@pytest.fixture(scope="module")
def day() -> Day:
    return replay(load_scenario(SEED))


@pytest.fixture(scope="module")
def messages(day: Day) -> dict[str, list[BecknMessage]]:
    produced = day.beckn()
    confirm = next(m for m in produced if m.context.action == Action.CONFIRM)
    receiving = next(m for m in produced if classify(m) == "update receiving_site")
    by_kind: dict[str, list[BecknMessage]] = {}
    for m in [*produced, refused_confirm(day, confirm), refused_update(day, receiving)]:
        by_kind.setdefault(classify(m), []).append(m)
    return by_kind


def test_seed_day_produces_every_kind_of_message_once_per_order(
        day: Day, messages: dict[str, list[BecknMessage]]) -> None:
    assert {k: len(v) for k, v in messages.items()} == EXPECTED
    assert day.dead_letters == []


def test_seed_day_is_the_hand_worked_one(day: Day) -> None:
    """The in-memory day is the real one (figures as in tests/e2e/test_seed_day.py)."""
    (statement,) = [o.value.payload for o in day.records
                    if isinstance(o.value, Envelope) and o.value.type == "settlement.statement.issued"]
    assert statement.shifted_kw == pytest.approx(300)
    assert statement.battery_kw == pytest.approx(150)
    assert statement.verified_kw == pytest.approx(450)
    assert statement.flex_payment_gbp == pytest.approx(135)


@pytest.mark.parametrize("kind", EXPECTED)
def test_message_conforms_to_the_official_schema(
        kind: str, messages: dict[str, list[BecknMessage]]) -> None:
    for msg in messages[kind]:
        assert beckn_errors(msg.to_wire()) == []


@pytest.mark.parametrize("kind", EXPECTED)
def test_message_survives_the_wire(kind: str, messages: dict[str, list[BecknMessage]]) -> None:
    for msg in messages[kind]:
        wire = json.loads(json.dumps(msg.to_wire()))
        back = BecknMessage.model_validate(wire)
        assert back == msg
        assert back.to_wire() == wire


def bags_in(wire: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(Beckn slot, bag) for every ComputeEnergy bag in a message, found by where they go."""
    found: list[tuple[str, dict[str, Any]]] = []
    body = wire["message"]
    for cat in body.get("catalogs", []):
        found += [("Item.beckn:itemAttributes", i["beckn:itemAttributes"])
                  for i in cat["beckn:items"]]
    order = body.get("order")
    if order is not None:
        found += [("OrderItem.beckn:orderItemAttributes", i["beckn:orderItemAttributes"])
                  for i in order["beckn:orderItems"]]
        if "beckn:orderAttributes" in order:
            found.append(("Order.beckn:orderAttributes", order["beckn:orderAttributes"]))
    return found


def format_checker() -> FormatChecker:
    """date-time asserted (jsonschema needs an optional library for it): ISO 8601 with offset."""
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(
        lambda v: not isinstance(v, str) or datetime.fromisoformat(v).tzinfo is not None)
    return checker


CE_SCHEMA = json.loads(SCHEMA_PATH.read_text())
DEF_OF_TYPE = {d["properties"]["@type"]["const"]: name for name, d in CE_SCHEMA["$defs"].items()}


def bag_errors(bag: dict[str, Any]) -> list[str]:
    """Errors against the schema.json definition named by the bag's @type, then the root."""
    name = DEF_OF_TYPE.get(bag.get("@type"))  # type: ignore[arg-type]
    if name is None:
        return [f"@type {bag.get('@type')!r} is not a ComputeEnergy bag"]
    own = {k: v for k, v in CE_SCHEMA.items() if k != "oneOf"} | {"$ref": f"#/$defs/{name}"}
    errors = [f"{e.json_path}: {e.message}" for e in Draft202012Validator(
        own, format_checker=format_checker()).iter_errors(bag)]
    if not errors and not Draft202012Validator(CE_SCHEMA).is_valid(bag):
        errors.append("$: valid as its own definition but not under the root oneOf")
    return errors


BAG_OF_SLOT = {
    "Item.beckn:itemAttributes": {"ce:ComputeEnergyWindow"},
    "OrderItem.beckn:orderItemAttributes": {"ce:ComputeEnergyOrderLine"},
    "Order.beckn:orderAttributes": {"ce:GridStressEvent", "ce:FlexibilityAction",
                                    "ce:SettlementMetrics"},
}


@pytest.mark.parametrize("kind", EXPECTED)
def test_every_bag_in_the_message_fits_schema_json(
        kind: str, messages: dict[str, list[BecknMessage]]) -> None:
    for msg in messages[kind]:
        bags = bags_in(msg.to_wire())
        if msg.context.action != Action.DISCOVER:
            assert bags, f"{kind} carries no ComputeEnergy bag"
        for slot, bag in bags:
            assert bag["@type"] in BAG_OF_SLOT[slot], (slot, bag["@type"])
            assert bag_errors(bag) == [], (slot, bag["@type"])


def keys_of(bag: Any) -> set[str]:
    if isinstance(bag, list):
        return set().union(set(), *(keys_of(b) for b in bag))
    if not isinstance(bag, dict):
        return set()
    return {k for k in bag if k[0] != "@"}.union(*(keys_of(v) for v in bag.values()))


def test_every_term_sent_is_defined_in_the_context(
        messages: dict[str, list[BecknMessage]]) -> None:
    sent = {key for ms in messages.values() for m in ms for _, bag in bags_in(m.to_wire())
            for key in keys_of(bag)}
    assert sent - set(CONTEXT_TERMS) == set()


def test_the_bags_each_kind_carries(messages: dict[str, list[BecknMessage]]) -> None:
    """Where each piece of the flow lives: windows in the catalogue, lines on every order,
    the stress event, actions and metrics at order level."""
    (on_discover,) = messages["on_discover"]
    assert isinstance(on_discover.message, OnDiscoverMessage)
    windows = [i.item_attributes for c in on_discover.message.catalogs for i in c.items]
    assert windows and all(isinstance(w, ComputeEnergyWindow) for w in windows)
    for kind in ("select", "on_select", "init", "on_init", "confirm", "on_confirm"):
        for m in messages[kind]:
            assert isinstance(m.message, OrderMessage)
            assert all(isinstance(i.attributes, OrderLine) for i in m.message.order.items)
            assert m.message.order.attributes is None
    for m in messages["on_confirm"]:
        assert m.message.order.status == OrderStatus.CONFIRMED  # type: ignore[union-attr]
        assert all(i.attributes.confirmed_capacity_kw
                   for i in m.message.order.items)  # type: ignore[union-attr]
    (refused,) = messages["on_confirm refused 40002"]
    assert refused.message.order.status == OrderStatus.REJECTED  # type: ignore[union-attr]
    (answer,) = messages["on_update refused 40002"]
    assert order_attrs(answer).accepted is False
    for kind in ("on_update stressed_site answer", "on_update receiving_site answer"):
        assert order_attrs(messages[kind][0]).accepted is True


def test_every_internal_record_of_the_day_fits_events_schema(day: Day) -> None:
    v = Draft202012Validator(json.loads(EVENTS_PATH.read_text()), format_checker=format_checker())
    envelopes = [o.value for o in day.records if isinstance(o.value, Envelope)]
    readings = [e for e in envelopes if e.type == "metering.reading.recorded"]
    sample = [e for e in envelopes if e.type != "metering.reading.recorded"] + readings[::60]
    seen = {e.type for e in envelopes}
    for env in sample:
        assert [e.message for e in v.iter_errors(json.loads(encode(env)))] == [], env.type
    assert seen == {t for topic in CATALOGUE for t in topic.types if not t.startswith("beckn.")}


def test_the_day_runs_in_event_time_only(day: Day) -> None:
    """Nothing produced is stamped outside the scenario day (no wall clock leaks in)."""
    start = datetime(2025, 11, 17, tzinfo=UTC)
    for m in day.beckn():
        assert start <= m.context.timestamp <= start + timedelta(days=1)
