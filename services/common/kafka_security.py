"""Kafka client security (SASL/SCRAM, TLS, mTLS) from settings to aiokafka keyword arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings


class KafkaSecuritySettings(BaseSettings):
    """Mixed into ServiceSettings (env `DEGFLEX_KAFKA_*`); the defaults are plaintext."""

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (mTLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="client private key (mTLS)")
    kafka_ssl_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_mechanism and self.kafka_sasl_username
                         and self.kafka_sasl_password):
            raise ValueError(f"{self.kafka_security_protocol} needs kafka_sasl_mechanism, "
                             "kafka_sasl_username and kafka_sasl_password")
        if not sasl and self.kafka_sasl_mechanism is not None:
            raise ValueError("kafka_sasl_mechanism is set but kafka_security_protocol is "
                             f"{self.kafka_security_protocol}")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("mTLS needs both kafka_ssl_certfile and kafka_ssl_keyfile")
        tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile):
            raise ValueError("TLS files are set but kafka_security_protocol is "
                             f"{self.kafka_security_protocol}")
        return self


def kafka_client_kwargs(s: KafkaSecuritySettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient; {} for plaintext."""
    if s.kafka_security_protocol == "PLAINTEXT":
        return {}
    kw: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    if s.kafka_security_protocol in ("SSL", "SASL_SSL"):
        kw["ssl_context"] = create_ssl_context(
            cafile=str(s.kafka_ssl_cafile) if s.kafka_ssl_cafile else None,
            certfile=str(s.kafka_ssl_certfile) if s.kafka_ssl_certfile else None,
            keyfile=str(s.kafka_ssl_keyfile) if s.kafka_ssl_keyfile else None,
            password=(s.kafka_ssl_key_password.get_secret_value()
                      if s.kafka_ssl_key_password else None))
    if s.kafka_sasl_mechanism is not None:
        assert s.kafka_sasl_password is not None
        kw.update(sasl_mechanism=s.kafka_sasl_mechanism,
                  sasl_plain_username=s.kafka_sasl_username,
                  sasl_plain_password=s.kafka_sasl_password.get_secret_value())
    return kw
