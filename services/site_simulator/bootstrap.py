"""Composition root of the site simulator."""

from __future__ import annotations

from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.site_simulator.handlers import HANDLERS, SiteSimState
from services.site_simulator.metrics import observer
from services.site_simulator.settings import SiteSimulatorSettings


def bootstrap(settings: SiteSimulatorSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[SiteSimState]:
    state = SiteSimState(timedelta(seconds=settings.meter_resolution_s))
    metrics = stream_metrics()
    return Runner(settings, state, HANDLERS, consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
