"""Composition root of the load-shifter."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.load_shifter.handlers import HANDLERS, ShifterState
from services.load_shifter.metrics import observer
from services.load_shifter.settings import LoadShifterSettings


def bootstrap(settings: LoadShifterSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[ShifterState]:
    metrics = stream_metrics()
    return Runner(settings, ShifterState(costs=settings.costs), HANDLERS,
                  consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
