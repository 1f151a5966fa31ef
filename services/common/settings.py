"""Frozen, validated settings shared by every service (env prefix DEGFLEX_, Kafka's own names)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.beckn_auth import BecknAuthSettings
from services.common.kafka_security import KafkaSecuritySettings


class ServiceSettings(BecknAuthSettings, KafkaSecuritySettings):
    """Built once in a service's __main__; refused at start-up when wrong."""

    model_config = SettingsConfigDict(env_prefix="DEGFLEX_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    service_name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9-]*$")
    bootstrap_servers: str = Field(
        "127.0.0.1:19092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "DEGFLEX_BOOTSTRAP_SERVERS"),
        pattern=r"^[^,\s]+:\d+(,[^,\s]+:\d+)*$",
    )
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$")
    group_id: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(0, ge=0, le=65535, description="0 disables the HTTP server")
    poll_timeout_ms: int = Field(100, ge=1, le=60_000)
    max_batch: int = Field(1000, ge=1, le=100_000)
    dead_letter_log_burst: int = Field(
        5, ge=0, description="dead letters logged in full per reason per interval; the rest "
        "are counted in one summary line per interval (each is still produced and counted)")
    dead_letter_log_interval_s: float = Field(60.0, gt=0, le=86_400)
    producer_request_timeout_ms: int = Field(
        40_000, ge=1_000, le=600_000,
        description="aiokafka request_timeout_ms: also how long a record may wait for a "
        "partition leader or buffer room before the producer gives it up (the runner then "
        "sends it again)")
    http_token: SecretStr | None = Field(
        None, description="bearer token for HTTP endpoints that change state (docs/security.md)")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def group(self) -> str:
        return self.group_id or f"{self.topic_prefix}{self.service_name}"
