"""Who publishes a verification when several validator instances share the records: the owner of
the stressed site's readings partition, once, whichever record completed the event."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.beckn.models import Action, OrderStatus
from contracts.events import FlexibilityVerified
from contracts.topics import VERIFICATIONS
from services.common.codec import envelope
from services.common.ids import stable_id
from services.metering_validator.handlers import (
    SOURCE,
    ValidatorState,
    on_grid_update,
    on_order_confirmed,
    on_reading,
    on_verified,
    owed,
)

from .factories import (
    CAMBRIDGE,
    CAMBRIDGE_TXN,
    MANCHESTER,
    MANCHESTER_TXN,
    STRESS_ID,
    beckn,
    cambridge_order,
    env,
    inbound,
    manchester_order,
    reading,
    receiving_answer,
    stress_update,
)

KEY = f"{STRESS_ID}/{CAMBRIDGE}"


def _state(owned: set[str]) -> ValidatorState:
    st = ValidatorState()
    st.owns = lambda site: site in owned
    for txn, order in ((CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED, confirmed=True)),
                       (MANCHESTER_TXN, manchester_order(OrderStatus.CONFIRMED, confirmed=True))):
        on_order_confirmed(st, inbound(beckn(Action.ON_CONFIRM, txn, order)))
    on_grid_update(st, inbound(stress_update()))
    on_grid_update(st, inbound(receiving_answer(accepted=True)))
    return st


def _read(st: ValidatorState, site: str, start: str, end: str, kwh: float, *,
          replay: bool = False) -> list[FlexibilityVerified]:
    m = inbound(env(reading(site, start, end, kwh)))._replace(replay=replay)
    outs: Any = on_reading(st, m)
    return [o.value.payload for o in outs]


def _published(v: FlexibilityVerified) -> Any:
    return inbound(envelope(v, id=stable_id("verified", KEY), time=v.end, source=SOURCE))


def test_the_owner_of_the_stressed_site_sends_even_when_another_sites_reading_completes_it(
        ) -> None:
    st = _state({CAMBRIDGE})
    assert _read(st, CAMBRIDGE, "14:00", "16:00", 1500) == []  # Manchester not yet metered

    (v,) = _read(st, MANCHESTER, "14:00", "16:00", 3000)  # Manchester's partition: not ours

    assert (v.event_id, v.site_id, v.delivered_kwh) == (STRESS_ID, CAMBRIDGE, 900)  # 2400 - 1500
    assert [d.increase_kwh for d in v.receiving] == [600]  # 3000 - 2 x 1200
    assert st.awaiting == {} and owed(st) == []


def test_an_instance_not_owning_the_site_decides_but_does_not_send() -> None:
    st = _state({MANCHESTER})
    _read(st, MANCHESTER, "14:00", "16:00", 3000)

    assert _read(st, CAMBRIDGE, "14:00", "16:00", 1500) == []

    assert list(st.awaiting) == [KEY]
    assert owed(st) == []  # still not the owner: nothing to send


def test_a_decision_not_seen_published_is_owed_by_the_next_owner() -> None:
    owned = {MANCHESTER}
    st = _state(owned)
    _read(st, MANCHESTER, "14:00", "16:00", 3000)
    _read(st, CAMBRIDGE, "14:00", "16:00", 1500)

    owned.add(CAMBRIDGE)  # the owner of Cambridge's partition died before publishing
    (out,) = owed(st)

    assert (out.topic, out.key, out.value.id) == (VERIFICATIONS, CAMBRIDGE,
                                                  stable_id("verified", KEY))
    assert out.value.payload.delivered_kwh == 900
    assert st.awaiting == {} and owed(st) == []  # once


def test_a_decision_seen_published_is_never_sent_again() -> None:
    owned = {MANCHESTER}
    st = _state(owned)
    _read(st, MANCHESTER, "14:00", "16:00", 3000)
    _read(st, CAMBRIDGE, "14:00", "16:00", 1500)
    v = st.awaiting[KEY].value.payload

    on_verified(st, _published(v))
    owned.add(CAMBRIDGE)

    assert owed(st) == []


def test_a_verification_published_before_this_instance_decided_it_is_not_sent() -> None:
    st = _state({CAMBRIDGE})
    other = _state({CAMBRIDGE})
    _read(other, MANCHESTER, "14:00", "16:00", 3000)
    (v,) = _read(other, CAMBRIDGE, "14:00", "16:00", 1500)

    on_verified(st, _published(v))  # read on the topic before this instance's own readings
    _read(st, MANCHESTER, "14:00", "16:00", 3000)

    assert _read(st, CAMBRIDGE, "14:00", "16:00", 1500) == []
    assert st.awaiting == {} and owed(st) == []


@pytest.mark.parametrize("owner", [True, False])
def test_replayed_records_never_send_and_leave_the_decision_owed(owner: bool) -> None:
    st = _state({CAMBRIDGE, MANCHESTER} if owner else set())
    _read(st, MANCHESTER, "14:00", "16:00", 3000, replay=True)

    assert _read(st, CAMBRIDGE, "14:00", "16:00", 1500, replay=True) == []

    assert [o.value.payload.delivered_kwh for o in owed(st)] == ([900] if owner else [])
