"""Composition root of the metering validator."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import READINGS, VERIFICATIONS, consumed_by
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.metering_validator.handlers import HANDLERS, ValidatorState, owed
from services.metering_validator.metrics import observer
from services.metering_validator.settings import MeteringValidatorSettings


def bootstrap(settings: MeteringValidatorSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[ValidatorState]:
    metrics = stream_metrics()
    consumes = consumed_by(settings.service_name)
    state = ValidatorState(settings.validator_config())
    # A verification reads the receiving sites' readings and every site's orders: with several
    # instances in the group each applies every partition, the owner of the stressed site's
    # readings partition publishes, and all follow what was published (docs/metering.md §4).
    runner = Runner(settings, state, HANDLERS, consumes, metrics, consumer=consumer,
                    producer=producer, observe=observer(metrics.registry), shared=consumes,
                    follow=(VERIFICATIONS,), owed=owed)
    state.owns = lambda site_id: runner.owns(READINGS, site_id)
    return runner
