"""The verify/sign step the runner applies to Beckn topics: every rejection and its reason."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from contracts.beckn.models import Action, BecknMessage
from services.common.beckn_auth import BECKN_TOPICS, BecknAuth, beckn_auth
from services.common.codec import encode
from services.common.keys import new_key
from services.common.registry import FileRegistry
from services.common.settings import ServiceSettings
from services.common.signing import HEADER, KeyId, SignatureRejected, parse
from tests.signed import (
    BAP_ID,
    BAP_KEY,
    BAP_KID,
    BPP_KEY,
    BPP_KID,
    MALLORY_KEY,
    REGISTRY,
    entry,
    signed,
    write_registry,
)
from tests.unit.factories import CAMBRIDGE_TXN, at, beckn, cambridge_order

SELECT = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order(), timestamp=at("10:00"))
ON_SELECT = beckn(Action.ON_SELECT, CAMBRIDGE_TXN, cambridge_order(), timestamp=at("10:00"))
T = at("10:00").timestamp()  # a receive (log) time at which SELECT is fresh
MS = int(T * 1000) + 500


def auth(entries: list = REGISTRY, **kw: object) -> tuple[BecknAuth, CollectorRegistry]:
    metrics = CollectorRegistry()
    a = BecknAuth(FileRegistry(entries), None, None, ["p.beckn.orders.v1"], metrics, **kw)  # type: ignore[arg-type]
    return a, metrics


def reason(a: BecknAuth, value: bytes, headers: list[tuple[str, bytes]], msg: BecknMessage,
           ms: int = MS, seen: bool = False) -> str:
    with pytest.raises(SignatureRejected) as e:
        a.verify(value, headers, msg, ms, seen)
    assert e.value.code == "30000"
    return e.value.reason


def test_a_request_signed_by_its_bap_and_a_callback_by_its_bpp_verify() -> None:
    a, metrics = auth()
    a.verify(*signed(SELECT, T), SELECT, MS, False)
    a.verify(*signed(ON_SELECT, T), ON_SELECT, MS, False)
    assert metrics.get_sample_value("beckn_signature_checks_total",
                                    {"outcome": "verified"}) == 2


def test_unsigned() -> None:
    a, metrics = auth()
    assert reason(a, encode(SELECT), [], SELECT) == "signature_missing"
    assert metrics.get_sample_value("beckn_signature_checks_total",
                                    {"outcome": "signature_missing"}) == 1


def test_wrongly_signed_tampered_or_by_another_key() -> None:
    a, _ = auth()
    value, headers = signed(SELECT, T)
    assert reason(a, value.replace(b"1200", b"1300"), headers, SELECT) == "signature_invalid"
    assert reason(a, *signed(SELECT, T, key=MALLORY_KEY), SELECT) == "signature_invalid"


def test_unknown_or_unsubscribed_or_out_of_date_keys() -> None:
    a, _ = auth()
    stranger = KeyId(BAP_ID, "11111111-2222-3333-4444-555555555555")
    assert reason(a, *signed(SELECT, T, kid=stranger), SELECT) == "unknown_key"
    revoked, _ = auth([entry(BAP_KID, BAP_KEY, "BAP", status="UNSUBSCRIBED")])
    assert reason(revoked, *signed(SELECT, T), SELECT) == "unknown_key"
    lapsed, _ = auth([entry(BAP_KID, BAP_KEY, "BAP", valid_until=at("09:00"))])
    assert reason(lapsed, *signed(SELECT, T), SELECT) == "unknown_key"


def test_the_bpp_cannot_sign_a_bap_request_nor_the_bap_a_callback() -> None:
    a, _ = auth()
    assert reason(a, *signed(SELECT, T, key=BPP_KEY, kid=BPP_KID), SELECT) == "signer_mismatch"
    assert reason(a, *signed(ON_SELECT, T, key=BAP_KEY, kid=BAP_KID),
                  ON_SELECT) == "signer_mismatch"


def test_expired_signature_and_signature_longer_than_the_ttl() -> None:
    a, _ = auth(check_message_ttl=False)
    assert reason(a, *signed(SELECT, T - 60), SELECT) == "signature_expired"  # PT30S
    assert reason(a, *signed(SELECT, T + 60), SELECT) == "signature_expired"  # from the future
    assert reason(a, *signed(SELECT, T, lifetime_s=31), SELECT) == "signature_malformed"


def test_message_timestamp_beyond_its_ttl_is_a_replay_unless_the_check_is_off() -> None:
    old = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order(), timestamp=at("09:59"))
    a, _ = auth()
    assert reason(a, *signed(old, T), old) == "message_expired"
    future = beckn(Action.SELECT, CAMBRIDGE_TXN, cambridge_order(), timestamp=at("10:01"))
    assert reason(a, *signed(future, T), future) == "message_expired"
    lenient, _ = auth(check_message_ttl=False)
    lenient.verify(*signed(old, T), old, MS, False)


def test_a_message_id_already_handled_is_a_replay() -> None:
    a, _ = auth()
    assert reason(a, *signed(SELECT, T), SELECT, seen=True) == "replayed_message"


def test_sign_makes_headers_that_verify_and_live_for_the_ttl() -> None:
    metrics = CollectorRegistry()
    signer = BecknAuth(None, BAP_KEY, BAP_KID, [], metrics)
    body = encode(SELECT)
    headers = signer.sign(body, SELECT, now=T)
    sig = parse(headers[0][1])
    assert headers[0][0] == HEADER and (sig.created, sig.expires) == (int(T), int(T) + 30)
    assert signer.topics == frozenset()  # no registry: signs, verifies nothing
    a, _ = auth()
    a.verify(body, headers, SELECT, MS, False)
    assert metrics.get_sample_value("beckn_messages_signed_total") == 1


def test_settings_build_auth_from_key_file_and_registry(tmp_path: Path) -> None:
    reg = write_registry(tmp_path / "registry.json")
    key_file = tmp_path / "bap.key"
    key_file.write_text(BAP_KEY.seed_and_public_b64() + "\n")
    s = ServiceSettings(service_name="planner", topic_prefix="p.", beckn_registry_file=reg,
                        beckn_signing_key_file=key_file, beckn_subscriber_id=BAP_ID,
                        beckn_key_id=BAP_KID.unique_key_id)
    a = beckn_auth(s, CollectorRegistry())
    assert a is not None and a.signs
    assert a.topics == {f"p.{t}" for t in BECKN_TOPICS}
    assert set(BECKN_TOPICS) == {"beckn.orders.v1", "beckn.updates.v1", "beckn.callbacks.v1",
                                 "beckn.statuses.v1"}
    a.verify(encode(SELECT), a.sign(encode(SELECT), SELECT, now=T), SELECT, MS, False)
    assert beckn_auth(ServiceSettings(service_name="planner"), CollectorRegistry()) is None


def test_settings_refuse_half_configured_signing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="beckn_subscriber_id"):
        ServiceSettings(service_name="planner", beckn_signing_key=BAP_KEY.seed_and_public_b64())
    with pytest.raises(ValidationError, match="not both"):
        ServiceSettings(service_name="planner", beckn_signing_key="x",
                        beckn_signing_key_file=tmp_path / "k", beckn_subscriber_id="a",
                        beckn_key_id="b")


def test_private_key_from_env_never_shows_in_repr_or_logs(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    secret = BAP_KEY.seed_and_public_b64()
    monkeypatch.setenv("DEGFLEX_BECKN_SIGNING_KEY", secret)
    monkeypatch.setenv("DEGFLEX_BECKN_SUBSCRIBER_ID", BAP_ID)
    monkeypatch.setenv("DEGFLEX_BECKN_KEY_ID", BAP_KID.unique_key_id)
    monkeypatch.setenv("DEGFLEX_HTTP_TOKEN", "tok-123456789")
    s = ServiceSettings(service_name="planner")
    a = beckn_auth(s, CollectorRegistry())
    assert a is not None and a.signs
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings %s %r auth %r key %r", s, s, a.__dict__,
                                       s.load_signing_key())
    for text in (repr(s), str(s), s.model_dump_json(), caplog.text):
        assert secret not in text and secret[:40] not in text
        assert "tok-123456789" not in text
    assert s.beckn_signing_key is not None
    assert s.beckn_signing_key.get_secret_value() == secret


def test_keys_new_writes_an_owner_only_key_and_a_lookup_shaped_entry(tmp_path: Path) -> None:
    reg = tmp_path / "registry.json"
    made = new_key(BAP_ID, "BAP", tmp_path / "keys", reg, url="https://bap.example/beckn")
    other = new_key("gridflex.grid.example", "BPP", tmp_path / "keys", reg)
    assert made.key_file.stat().st_mode & 0o777 == 0o600
    loaded = FileRegistry.load(reg)
    assert len(loaded) == 2
    got = loaded.lookup(BAP_ID, made.entry.key_id)
    assert got is not None and got.type == "BAP" and got.status == "SUBSCRIBED"
    assert got.valid_until - got.valid_from == timedelta(days=365)
    assert loaded.lookup(other.entry.subscriber_id, other.entry.key_id) is not None
    # the file's key is the registered public key's private half
    s = ServiceSettings(service_name="planner", beckn_signing_key_file=made.key_file,
                        beckn_subscriber_id=BAP_ID, beckn_key_id=made.entry.key_id,
                        beckn_registry_file=reg)
    key = s.load_signing_key()
    assert key is not None and key.public_b64 == got.signing_public_key


def test_degflex_keys_new_prints_the_public_half_only(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main

    reg = tmp_path / "registry.json"
    assert main(["keys", "new", "--subscriber-id", BAP_ID, "--type", "BAP",
                 "--key-dir", str(tmp_path / "k"), "--registry", str(reg)]) == 0
    out = capsys.readouterr().out
    (key_file,) = (tmp_path / "k").glob("*.key")
    (entry_,) = FileRegistry.load(reg)._by_key.values()  # noqa: SLF001
    assert entry_.signing_public_key in out and str(key_file) in out
    assert key_file.read_text().strip() not in out
    assert key_file.read_text().strip()[:43] not in out  # nor the seed half


def test_a_beckn_sender_without_a_key_is_refused_when_verification_is_on(tmp_path: Path) -> None:
    reg = write_registry(tmp_path / "registry.json")
    with pytest.raises(ValueError, match="no signing key"):
        beckn_auth(ServiceSettings(service_name="settlement", beckn_registry_file=reg),
                   CollectorRegistry())
    verifier = beckn_auth(ServiceSettings(service_name="metering-validator",
                                          beckn_registry_file=reg), CollectorRegistry())
    assert verifier is not None and not verifier.signs  # reads Beckn, sends none
