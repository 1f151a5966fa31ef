"""Composition root of the metering validator."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.metering_validator.handlers import HANDLERS, ValidatorState
from services.metering_validator.metrics import observer
from services.metering_validator.settings import MeteringValidatorSettings


def bootstrap(settings: MeteringValidatorSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[ValidatorState]:
    metrics = stream_metrics()
    return Runner(settings, ValidatorState(settings.validator_config()), HANDLERS, consumed_by(settings.service_name),
                  metrics, consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
