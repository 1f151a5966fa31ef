"""Composition root of grid-signal."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.scenario import load_scenario
from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.grid_signal.handlers import HANDLERS, GridState
from services.grid_signal.metrics import observer
from services.grid_signal.settings import GridSignalSettings


def bootstrap(settings: GridSignalSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[GridState]:
    state = GridState.from_scenario(load_scenario(settings.scenario))
    metrics = stream_metrics()
    return Runner(settings, state, HANDLERS, consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
