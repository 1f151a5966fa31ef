"""Composition root of settlement."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.settlement.handlers import HANDLERS, SettlementState
from services.settlement.settings import SettlementSettings


def bootstrap(settings: SettlementSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[SettlementState]:
    return Runner(settings, SettlementState(), HANDLERS, consumed_by(settings.service_name),
                  stream_metrics(), consumer=consumer, producer=producer)
