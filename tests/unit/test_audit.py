"""The audit trail: the hash chain and its tamper cases, the seed day's entries, recomputing its
settlements from the log alone, and restarting from the log without a duplicate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.audit import AuditBody, SettledInputs, Stage
from contracts.events import AuditEntryAppended
from contracts.topics import AUDIT_LOG, BECKN_STATUSES, STATEMENTS
from services.audit.domain import GENESIS, ChainBroken, Head, append, canonical, content_hash, walk
from services.audit.handlers import HANDLERS, AuditState
from services.audit.verify import verify_log
from services.common.codec import decode, encode, envelope
from services.common.runner import Inbound, Out

from .factories import CAMBRIDGE, MANCHESTER
from .test_seed_day import Bus, day  # noqa: F401 - the in-process seed day, a fixture

T0 = datetime(2025, 11, 17, 8, tzinfo=UTC)
CONFIG = {"test": "chain"}
CONFIG_HASH = content_hash(CONFIG)
CAM_ORDER, MAN_ORDER = "order-cambridge-east-20251117", "order-manchester-20251117"


# ---- the chain --------------------------------------------------------------------------------


def body(stage: Stage, order_id: str | None = None, **inputs: Any) -> AuditBody:
    return AuditBody(seq=0, stage=stage, at=T0, order_id=order_id, config_hash=CONFIG_HASH,
                     inputs=inputs)


def small_chain(n: int = 4) -> list[AuditEntryAppended]:
    """n configured entries, each restating CONFIG (the one stage with free-form inputs)."""
    head, out = Head(), []
    for _ in range(n):
        entry, head = append(head, body(Stage.CONFIGURED, config=CONFIG))
        out.append(entry)
    return out


def records(entries: list[AuditEntryAppended]) -> list[bytes]:
    return [encode(envelope(e, id=f"e{e.seq}", time=T0, source="audit")) for e in entries]


def test_each_link_hashes_the_previous_hash_and_the_canonical_body() -> None:
    first, second = small_chain(2)

    expected_body = ('{"at":"2025-11-17T08:00:00Z","config_hash":"' + CONFIG_HASH + '",'
                     '"inputs":{"config":{"test":"chain"}},"seq":0,"stage":"configured"}')
    assert first.body == expected_body
    assert first.prev_hash == GENESIS
    assert first.hash == hashlib.sha256((GENESIS + expected_body).encode()).hexdigest()
    assert second.prev_hash == first.hash
    assert json.loads(second.body)["seq"] == 1
    assert walk(small_chain(4)).head == Head(4, small_chain(4)[-1].hash)


def test_an_intact_chain_verifies() -> None:
    report = verify_log(records(small_chain(4)))

    assert report.ok, report.problem
    assert (report.entries, report.head.seq) == (4, 4)


def _changed(e: AuditEntryAppended, **update: Any) -> AuditEntryAppended:
    return e.model_copy(update=update)


TAMPERS: dict[str, tuple[Callable[[list[AuditEntryAppended]], list[AuditEntryAppended]],
                         int, str]] = {
    "changed field": (lambda es: [*es[:2], _changed(es[2], body=es[2].body.replace(
        '"chain"', '"chair"')), *es[3:]], 2, "the entry was changed"),
    "deleted entry": (lambda es: [*es[:1], *es[2:]], 1, "expected seq 1"),
    "reordered": (lambda es: [es[0], es[2], es[1], es[3]], 1, "expected seq 1"),
    "inserted copy": (lambda es: [*es[:2], es[1], *es[2:]], 2, "expected seq 2"),
    "renumbered insert": (lambda es: [*es[:2], _changed(es[1], seq=2), *es[2:]], 2,
                          "prev_hash"),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tampering_names_the_first_bad_entry(case: str) -> None:
    tamper, position, reason = TAMPERS[case]

    report = verify_log(records(tamper(small_chain(4))))

    assert not report.ok
    assert report.problem is not None
    assert report.problem.startswith(f"entry at position {position} ")
    assert reason in report.problem
    assert report.entries == position


def test_a_rewritten_chain_is_caught_by_the_head_noted_elsewhere() -> None:
    good = small_chain(4)
    forged = small_chain(3)  # a consistent chain, one entry short

    assert verify_log(records(good), good[-1].hash).ok
    report = verify_log(records(forged), good[-1].hash)
    assert not report.ok and "expected " + good[-1].hash in (report.problem or "")


def test_a_non_canonical_body_is_refused_even_when_rehashed() -> None:
    e = small_chain(1)[0]
    loose = json.dumps(json.loads(e.body), indent=1)
    forged = _changed(e, body=loose, hash=hashlib.sha256((GENESIS + loose).encode()).hexdigest())

    with pytest.raises(ChainBroken, match="not canonical"):
        walk([forged])


def test_an_entry_under_an_unrecorded_configuration_is_refused() -> None:
    head, entries = Head(), []
    for b in (body(Stage.CONFIGURED, config=CONFIG),
              body(Stage.CONFIGURED, config=CONFIG).model_copy(
                  update={"config_hash": content_hash({"other": 1})})):
        e, head = append(head, b)
        entries.append(e)

    with pytest.raises(ChainBroken, match="position 1 .*SHA-256 of the configuration"):
        walk(entries)


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical({"b": [1, 2.5], "a": "é"}) == '{"a":"é","b":[1,2.5]}'
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


# ---- the seed day's log -----------------------------------------------------------------------


def audit_log(bus: Bus) -> list[AuditEntryAppended]:
    return [v.payload for t, v in bus.log if t == AUDIT_LOG]


def stages(entries: list[AuditEntryAppended], order_id: str) -> list[str]:
    bodies = [AuditBody.model_validate_json(e.body) for e in entries]
    return [b.stage.value for b in bodies if b.order_id == order_id]


def test_every_state_change_of_each_order_is_logged_in_order(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)

    assert AuditBody.model_validate_json(entries[0].body).stage == Stage.CONFIGURED
    assert stages(entries, CAM_ORDER) == ["issued", "accepted", "instructed", "adjusted",
                                          "verified", "delivered", "settled", "closed"]
    assert stages(entries, MAN_ORDER) == ["issued", "accepted", "adjusted", "delivered",
                                          "settled", "closed"]
    assert [e.seq for e in entries] == list(range(15))


def settled(entries: list[AuditEntryAppended], order_id: str) -> tuple[int, SettledInputs]:
    for i, e in enumerate(entries):
        b = AuditBody.model_validate_json(e.body)
        if b.stage == Stage.SETTLED and b.order_id == order_id:
            return i, SettledInputs.model_validate(b.inputs)
    raise AssertionError(order_id)


def test_the_settled_entry_carries_the_inputs_of_the_bill(day: Bus) -> None:  # noqa: F811
    _, cam = settled(audit_log(day), CAM_ORDER)
    _, man = settled(audit_log(day), MAN_ORDER)

    assert len(cam.readings) == len(man.readings) == 1440  # one-minute meter, whole day
    assert {r.site_id for r in cam.readings} == {CAMBRIDGE}
    assert len(cam.signals) == 48 and {s.zone for s in cam.signals} == {"UK-EAST"}
    assert cam.dataset_version.startswith("sha256:")
    assert cam.dataset_version != man.dataset_version  # two zones, two price/intensity sets
    assert [v.delivered_kwh for v in cam.verifications] == [900]
    assert [e.event.utilisation_payment_gbp_per_mwh for e in cam.events] == [150]
    assert cam.statement_orders == (CAM_ORDER, MAN_ORDER)
    assert cam.inputs_digest == man.inputs_digest and cam.inputs_digest.startswith("sha256:")
    assert cam.recorded_order.flex_payment_gbp == pytest.approx(135)  # 150 £/MWh * 0.9 MWh
    # 1200 kW*(0.098 + 2*0.102 + 0.106) + 1500 kWh*0.132 + 333.33 kWh recharge*0.070
    assert cam.recorded_site.cost_gbp == pytest.approx(489.60 + 198.00 + 300 / 0.9 * 0.070)
    assert [e.paid_kwh for e in cam.recorded_events] == [900]
    assert man.recorded_events == () and man.recorded_order.flex_payment_gbp == 0
    assert (cam.recorded_site.site_id, man.recorded_site.site_id) == (CAMBRIDGE, MANCHESTER)


def test_the_seed_day_log_verifies_and_recomputes_both_settlements(day: Bus) -> None:  # noqa: F811
    report = verify_log(records(audit_log(day)))

    assert report.ok, report.problem
    assert (report.entries, report.settled, report.closed) == (15, 2, 2)


def forge(entries: list[AuditEntryAppended], position: int,
          edit: Callable[[dict[str, Any]], None]) -> list[AuditEntryAppended]:
    """Edit one body and re-link every entry from there: a forger who knows the format."""
    out = list(entries[:position])
    head = Head(position, entries[position - 1].hash)
    for e in entries[position:]:
        doc = json.loads(e.body)
        if e.seq == position:
            edit(doc)
        text = canonical(doc)
        h = hashlib.sha256((head.hash + text).encode()).hexdigest()
        out.append(AuditEntryAppended(seq=e.seq, prev_hash=head.hash, hash=h, body=text))
        head = Head(e.seq + 1, h)
    return out


def test_a_forged_meter_reading_is_not_what_was_settled(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    i, _ = settled(entries, CAM_ORDER)

    def less_import(doc: dict[str, Any]) -> None:  # 14:00-14:01: 1 kWh less from the grid
        r = next(r for r in doc["inputs"]["readings"] if r["start"] == "2025-11-17T14:00:00Z")
        r["import_kwh"] -= 1.0
        r["load_kwh"] -= 1.0

    report = verify_log(records(forge(entries, i, less_import)))

    assert not report.ok
    assert f"position {i} (seq {i}, settled, order {CAM_ORDER})" in (report.problem or "")
    assert "do not hash to the statement's inputs_digest" in (report.problem or "")


def test_a_forged_recorded_cost_does_not_recompute(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    i, inp = settled(entries, MAN_ORDER)

    def cheaper(doc: dict[str, Any]) -> None:
        doc["inputs"]["recorded_site"]["cost_gbp"] -= 0.01

    report = verify_log(records(forge(entries, i, cheaper)))

    assert not report.ok
    assert f"position {i} (seq {i}, settled, order {MAN_ORDER})" in (report.problem or "")
    assert f"site.cost_gbp recorded {inp.recorded_site.cost_gbp - 0.01!r}" in (report.problem
                                                                               or "")


def test_a_half_penny_difference_passes_and_a_penny_fails(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    i, _ = settled(entries, MAN_ORDER)

    def nudge(by: float) -> Callable[[dict[str, Any]], None]:
        def edit(doc: dict[str, Any]) -> None:
            doc["inputs"]["recorded_order"]["cost_gbp"] += by
        return edit

    assert verify_log(records(forge(entries, i, nudge(0.004)))).ok
    assert not verify_log(records(forge(entries, i, nudge(0.006)))).ok


def test_a_missing_settled_entry_is_named(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    i, _ = settled(entries, MAN_ORDER)

    def other_statement(doc: dict[str, Any]) -> None:
        doc["inputs"]["statement_id"] = "another"

    report = verify_log(records(forge(entries, i, other_statement)))

    assert not report.ok and "no settled entry for ['order-manchester" in (report.problem or "")


def test_a_forged_closing_figure_does_not_match_its_settlement(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    last = len(entries) - 1

    def pay_more(doc: dict[str, Any]) -> None:
        doc["inputs"]["order"]["beckn:orderAttributes"]["flexPaymentGbp"] += 1

    report = verify_log(records(forge(entries, last, pay_more)))

    assert not report.ok and "on_status flex_payment_gbp" in (report.problem or "")


# ---- idempotence and restart ------------------------------------------------------------------


def feed(state: AuditState, bus: Bus, statuses_first: bool = False
         ) -> list[AuditEntryAppended]:
    """Every record the audit service consumed on the seed day, once each, in order (or with
    the on_status records moved before the statement, as another topic may deliver them)."""
    log = list(bus.log)
    if statuses_first:
        statuses = [r for r in log if r[0] == BECKN_STATUSES]
        rest = [r for r in log if r[0] != BECKN_STATUSES]
        first = next(i for i, r in enumerate(rest) if r[0] == STATEMENTS)
        log = rest[:first] + statuses + rest[first:]
    out: list[AuditEntryAppended] = []
    for i, (topic, value) in enumerate(log):
        if "audit" not in topic.consumers:
            continue
        d = decode(encode(value))
        outs: list[Out] = list(HANDLERS[d.kind](state, Inbound(topic.name, 0, i, None, d.kind,
                                                                d.message_id, d.value, 0)))
        out += [o.value.payload for o in outs]
    return out


def test_the_same_inputs_give_the_same_chain(day: Bus) -> None:  # noqa: F811
    again = feed(AuditState.recovered({"test": "seed day"}, walk([])), day)

    assert again == audit_log(day)


def test_a_closure_read_before_its_statement_waits_for_it(day: Bus) -> None:  # noqa: F811
    again = feed(AuditState.recovered({"test": "seed day"}, walk([])), day, statuses_first=True)

    assert again == audit_log(day)


def test_a_restart_continues_the_chain_from_the_log_without_duplicates(
        day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)
    config = {"test": "seed day"}

    resumed = feed(AuditState.recovered(config, walk(entries[:7])), day)
    nothing = feed(AuditState.recovered(config, walk(entries)), day)

    assert resumed == entries[7:]
    assert nothing == []


def test_a_new_configuration_is_recorded_before_the_next_entry(day: Bus) -> None:  # noqa: F811
    entries = audit_log(day)

    more = feed(AuditState.recovered({"test": "new rules"}, walk(entries[:7])), day)

    assert AuditBody.model_validate_json(more[0].body).stage == Stage.CONFIGURED
    assert verify_log(records(entries[:7] + more)).ok
