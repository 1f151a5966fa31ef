"""Composition root of settlement."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.settlement.handlers import HANDLERS, SettlementState
from services.settlement.live import LiveView, tap
from services.settlement.metrics import observer
from services.settlement.settings import SettlementSettings


def bootstrap(settings: SettlementSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None,
              live: LiveView | None = None) -> Runner[SettlementState]:
    """`live`, when given, is kept up to date with every record handled (the /live page)."""
    metrics = stream_metrics()
    return Runner(settings, SettlementState(), HANDLERS if live is None else tap(HANDLERS, live),
                  consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
