"""Kafka client security settings -> aiokafka keyword arguments, and the runner uses them."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from services.common.kafka_security import kafka_client_kwargs
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.common.settings import ServiceSettings

SCRAM = {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "SCRAM-SHA-512",
             "kafka_sasl_username": "planner", "kafka_sasl_password": "pw-0123456789"}


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "degflex-test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "client.pem", tmp / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert kafka_client_kwargs(ServiceSettings(service_name="planner")) == {}


def test_sasl_scram_maps_to_aiokafka_names_and_the_password_stays_secret() -> None:
    s = ServiceSettings(service_name="planner", **SCRAM)
    assert kafka_client_kwargs(s) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "planner", "sasl_plain_password": "pw-0123456789"}
    assert "pw-0123456789" not in repr(s)


def test_sasl_ssl_and_mtls_build_an_ssl_context(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    s = ServiceSettings(service_name="planner", **{**SCRAM, "kafka_security_protocol": "SASL_SSL"},
                        kafka_ssl_cafile=cert, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key)
    kw = kafka_client_kwargs(s)
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    ctx = kw["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert any(c["subject"] == ((("commonName", "degflex-test"),),) for c in ctx.get_ca_certs())
    mtls = kafka_client_kwargs(ServiceSettings(
        service_name="planner", kafka_security_protocol="SSL", kafka_ssl_cafile=cert,
        kafka_ssl_certfile=cert, kafka_ssl_keyfile=key))
    assert set(mtls) == {"security_protocol", "ssl_context"}


@pytest.mark.parametrize("kw, match", [
    ({"kafka_security_protocol": "SASL_SSL"}, "needs kafka_sasl_mechanism"),
    ({"kafka_sasl_mechanism": "PLAIN"}, "kafka_security_protocol is PLAINTEXT"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "c.pem"}, "both"),
    ({"kafka_ssl_cafile": "ca.pem"}, "TLS files"),
    ({"kafka_security_protocol": "SASL_SCRAM"}, "kafka_security_protocol"),
])
def test_inconsistent_security_settings_are_refused_at_start_up(kw: dict[str, str],
                                                                match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ServiceSettings(service_name="planner", **kw)


def test_security_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SCRAM.items():
        monkeypatch.setenv(f"DEGFLEX_{k.upper()}", v)
    kw = kafka_client_kwargs(ServiceSettings(service_name="planner"))
    assert kw["sasl_plain_username"] == "planner" and kw["security_protocol"] == "SASL_PLAINTEXT"


async def test_the_runner_gives_its_clients_the_security_settings() -> None:
    with socket.socket() as sock:  # a port nobody listens on: start() fails fast
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = ServiceSettings(service_name="planner", bootstrap_servers=f"127.0.0.1:{port}", **SCRAM)
    runner: Runner[None] = Runner(s, None, {}, [], stream_metrics())
    with pytest.raises(KafkaConnectionError):
        await runner.run()
    assert runner._producer is not None and runner._consumer is not None
    for client in (runner._producer.client, runner._consumer._client):
        assert client._security_protocol == "SASL_PLAINTEXT"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_password == "pw-0123456789"
