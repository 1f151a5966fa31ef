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
    consumes = consumed_by(settings.service_name)
    # A decision at one site reads every site's plan, orders and commands: with several
    # instances in the group, each follows every partition (outputs only for its own).
    return Runner(settings, ShifterState(costs=settings.costs), HANDLERS, consumes,
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry), shared=consumes)
