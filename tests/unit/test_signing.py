"""BECKN-006 signatures: the spec's worked example byte for byte, round trips and tampering."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from services.common.signing import (
    KeyId,
    PrivateKey,
    SignatureRejected,
    digest,
    parse,
    sign,
    signing_string,
    ttl_seconds,
    verify,
)
from tests.signed import BAP_KEY, BAP_KID, MALLORY_KEY

SPEC = (Path(__file__).parent / "fixtures" / "beckn-006"
        / "BECKN-006-Signing-Beckn-APIs-In-HTTP-Draft-01.md")
SPEC_SHA256 = "0f81f56a84fe5ca8ed4af2a88ee2a25324f8f22e675a74cd54d8dc68484cac58"
# The v2.0.0-lts `Signature` schema's pattern (beckn/protocol-specifications-v2, api/v2.0.0/beckn.yaml)
V2_SIGNATURE_PATTERN = (r'^Signature keyId="[^|"]+\|[^|"]+\|[^"]+",algorithm="[^"]+",'
                        r'created="\d+",expires="\d+",headers="[^"]+",'
                        r'signature="[A-Za-z0-9+/]+=*"$')


def step1() -> dict[str, str]:
    """The BAP's worked example ("Step 1"), read out of the vendored spec text."""
    text = SPEC.read_text("utf-8")
    part = text[text.index("### Step 1"):text.index("### Step 2")]
    blocks = re.findall(r"```\n(.*?)\n```", part, re.DOTALL)
    ticks = re.findall(r"^`([^`\n]+)`$", part, re.MULTILINE)
    return {
        "body": blocks[0],
        "public": re.search(r"signing_public_key=(\S+)", part).group(1),  # type: ignore[union-attr]
        "private": re.search(r"signing_private_key=(\S+)", part).group(1),  # type: ignore[union-attr]
        "created": re.search(r"\(created\): (\d+)", part).group(1),  # type: ignore[union-attr]
        "expires": re.search(r"\(expires\): (\d+)", part).group(1),  # type: ignore[union-attr]
        "signing_string": next(b for b in blocks if b.startswith("(created)") and "digest" in b),
        "digest": ticks[0],
        "signature": ticks[1],
        "header": next(b for b in blocks if b.startswith("Signature keyId=")),
    }


def test_vendored_spec_is_the_upstream_file() -> None:
    assert hashlib.sha256(SPEC.read_bytes()).hexdigest() == SPEC_SHA256


def test_blake2b_512_of_the_spec_example_string() -> None:
    assert digest(b"The quick brown fox jumps over the lazy dog") == (
        "qK3Uvd39k+SHfSdG5igXsRY2Sh+nvBSNlQkLxzM7NnP4JAHPeqLkyx7NkCluPxTLVBP47Xe+cwRbE5FM3NapGA==")


def test_known_answer_reproduces_the_spec_worked_example_byte_for_byte() -> None:
    ex = step1()
    body = ex["body"].encode("utf-8")
    assert digest(body) == ex["digest"] == (
        "b6lf6lRgOweajukcvcLsagQ2T60+85kRh/Rd2bdS+TG/5ALebOEgDJfyCrre/1+BMu5nA94o4DT3pTFXuUg7sw==")
    created, expires = int(ex["created"]), int(ex["expires"])
    assert signing_string(created, expires, digest(body)) == ex["signing_string"]
    key = PrivateKey.from_b64(ex["private"])
    assert key.public_b64 == ex["public"]
    # the spec's keyId: subscriber example-bap.com, unique_key_id ae3ea24b-...
    spec_key_id = parse(ex["header"]).key_id
    assert spec_key_id == KeyId("example-bap.com", "ae3ea24b-cfec-495e-81f8-044aaef164ac")
    sig = sign(body, key, spec_key_id, created, expires)
    assert sig.signature == ex["signature"] == (
        "cjbhP0PFyrlSCNszJM1F/YmHDVAWsZqJUPzojnE/7TJU3fJ/rmIlgaUHEr5E0/2PIyf0tpSnWtT6cyNNlpmoAQ==")
    assert sig.header_value() == ex["header"]
    verify(body, parse(ex["header"]), ex["public"], now=created + 60)


def test_header_matches_the_v2_signature_schema_pattern() -> None:
    sig = sign(b"{}", BAP_KEY, BAP_KID, 1_763_370_000, 1_763_370_030)
    assert re.match(V2_SIGNATURE_PATTERN, sig.header_value())
    assert parse(sig.header_value()) == sig


def test_round_trip_and_any_flipped_byte_fails() -> None:
    body = b'{"context":{"action":"select"},"message":{}}'
    sig = sign(body, BAP_KEY, BAP_KID, 1000, 1030)
    verify(body, sig, BAP_KEY.public_b64, now=1010)
    for i in range(len(body)):
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        with pytest.raises(SignatureRejected) as e:
            verify(tampered, sig, BAP_KEY.public_b64, now=1010)
        assert e.value.reason == "signature_invalid"


def test_wrong_key_and_changed_times_fail() -> None:
    body = b"{}"
    sig = sign(body, MALLORY_KEY, BAP_KID, 1000, 1030)
    with pytest.raises(SignatureRejected, match="signature_invalid"):
        verify(body, sig, BAP_KEY.public_b64, now=1010)
    good = sign(body, BAP_KEY, BAP_KID, 1000, 1030)
    stretched = parse(good.header_value().replace('expires="1030"', 'expires="9999"'))
    with pytest.raises(SignatureRejected, match="signature_invalid"):
        verify(body, stretched, BAP_KEY.public_b64, now=1010)


@pytest.mark.parametrize("now, ok", [(994, False), (996, True), (1034, True), (1036, False)])
def test_created_in_future_and_expires_in_past_are_refused_with_skew(now: float,
                                                                     ok: bool) -> None:
    sig = sign(b"{}", BAP_KEY, BAP_KID, 1000, 1030)
    if ok:
        verify(b"{}", sig, BAP_KEY.public_b64, now=now, skew_s=5)
    else:
        with pytest.raises(SignatureRejected) as e:
            verify(b"{}", sig, BAP_KEY.public_b64, now=now, skew_s=5)
        assert e.value.reason == "signature_expired"


@pytest.mark.parametrize("header", [
    "Basic abc",
    'Signature keyId="a|b|ed25519",algorithm="ed25519",created="1",expires="2"',
    ('Signature keyId="a|ed25519",algorithm="ed25519",created="1",expires="2",headers="x",'
    'signature="AA=="'),
    ('Signature keyId="a|b|ed25519",algorithm="ed25519",created="one",expires="2",'
    'headers="(created) (expires) digest",signature="AA=="'),
    ('Signature keyId="a|b|ed25519",keyId="c|d|ed25519",algorithm="ed25519",created="1",'
    'expires="2",headers="(created) (expires) digest",signature="AA=="'),
])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureRejected) as e:
        parse(header)
    assert e.value.reason == "signature_malformed"


def test_other_algorithms_and_header_lists_are_refused() -> None:
    sig = sign(b"{}", BAP_KEY, BAP_KID, 1000, 1030)
    for text in (sig.header_value().replace('algorithm="ed25519"', 'algorithm="rsa-sha256"'),
                 sig.header_value().replace("(created) (expires) digest", "digest")):
        with pytest.raises(SignatureRejected, match="signature_malformed"):
            verify(b"{}", parse(text), BAP_KEY.public_b64, now=1010)


def test_private_key_forms_and_repr() -> None:
    seed_form = base64.b64encode(base64.b64decode(BAP_KEY.seed_and_public_b64())[:32]).decode()
    assert PrivateKey.from_b64(seed_form).public_b64 == BAP_KEY.public_b64
    assert PrivateKey.from_b64(BAP_KEY.seed_and_public_b64()).public_b64 == BAP_KEY.public_b64
    assert seed_form not in repr(BAP_KEY) and BAP_KEY.seed_and_public_b64() not in repr(BAP_KEY)
    wrong_half = base64.b64encode(base64.b64decode(seed_form) + base64.b64decode(
        MALLORY_KEY.public_b64)).decode()
    with pytest.raises(ValueError, match="does not match"):
        PrivateKey.from_b64(wrong_half)
    with pytest.raises(ValueError, match="32 or 64"):
        PrivateKey.from_b64(base64.b64encode(b"short").decode())


@pytest.mark.parametrize("ttl, seconds", [("PT30S", 30), ("PT5M", 300), ("PT1H30M", 5400),
                                          ("P1D", 86400), ("P1DT1S", 86401)])
def test_ttl_seconds(ttl: str, seconds: int) -> None:
    assert ttl_seconds(ttl) == seconds


@pytest.mark.parametrize("ttl", ["30", "P", "PT", "P1M", "PT-1S"])
def test_unsupported_ttl(ttl: str) -> None:
    with pytest.raises(ValueError):
        ttl_seconds(ttl)
