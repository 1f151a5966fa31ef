"""Composition root of audit: the configuration it records and the chain read back from its log."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import AUDIT_LOG, consumed_by
from rules.settlement import SettlementConfig
from services.audit.adapters import entry_of, read_log, rules_digests
from services.audit.domain import Chain, walk
from services.audit.handlers import HANDLERS, AuditState
from services.audit.settings import AuditSettings
from services.common.metrics import stream_metrics
from services.common.runner import Runner

CHAIN = {"canonical_json": "sorted keys, separators , and :, UTF-8, no NaN",
         "hash": "sha256(prev_hash_hex + body)", "genesis": "0" * 64}


def configuration(settings: AuditSettings, rules: dict[str, str]) -> dict[str, Any]:
    """What every entry's config_hash stands for: chain format, rule digests, the settlement
    rules' parameters (settlement runs the defaults) and shared settings."""
    return {"chain": CHAIN, "rules_sha256": rules,
            "settlement_config": SettlementConfig().model_dump(mode="json"),
            "settings": {"carbon_price_gbp_per_tonne": settings.carbon_price_gbp_per_tonne,
                         "meter_resolution_s": settings.meter_resolution_s}}


async def recover(settings: AuditSettings) -> Chain:
    """The log so far, checked link by link (a broken chain refuses the start)."""
    raw = await read_log(settings.bootstrap_servers, settings.topic(AUDIT_LOG.name),
                         settings.restore_timeout_s)
    return walk(entry_of(i, r) for i, r in enumerate(raw))


def bootstrap(settings: AuditSettings, chain: Chain, *, rules: dict[str, str] | None = None,
              consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[AuditState]:
    config = configuration(settings, rules if rules is not None else rules_digests())
    state = AuditState.recovered(config, chain, settings.topic_prefix)
    return Runner(settings, state, HANDLERS, consumed_by(settings.service_name),
                  stream_metrics(), consumer=consumer, producer=producer)
