"""Composition root of settlement."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.settlement.handlers import HANDLERS, SettlementState
from services.settlement.metrics import observer
from services.settlement.settings import SettlementSettings


def bootstrap(settings: SettlementSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[SettlementState]:
    metrics = stream_metrics()
    return Runner(settings, SettlementState(), HANDLERS, consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
