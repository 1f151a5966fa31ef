"""Producing through a broker restart: which send failures a new try gets past, and a producer
started once the broker answers (used by the runner and the replay driver)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, OutOfOrderSequenceNumber

log = logging.getLogger(__name__)


def passing(err: BaseException) -> bool:
    """A send failure a later try, by a new producer, can get past: a retriable Kafka error,
    a timeout, or the sequence gap a given-up batch leaves in an idempotent producer (aiokafka
    does not reset it, so the broker refuses that producer's next batch to the partition)."""
    return isinstance(err, KafkaError) and (
        err.retriable or isinstance(err, KafkaTimeoutError | OutOfOrderSequenceNumber))


async def start_producer(make: Callable[[], AIOKafkaProducer], backoff_s: float,
                         stopping: asyncio.Event | None = None) -> AIOKafkaProducer:
    """A started producer from `make`, tried again every `backoff_s` while the broker does not
    answer (raises if `stopping` is set meanwhile, or on an error no new try gets past)."""
    while True:
        producer = make()
        try:
            await producer.start()
            return producer
        except KafkaError as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            if (stopping is not None and stopping.is_set()) or not passing(exc):
                raise
            log.warning("no producer yet (%r); trying again", exc)
            await asyncio.sleep(backoff_s)


async def close_quietly(producer: AIOKafkaProducer, timeout_s: float = 10) -> None:
    """Stop a producer whose sends are all settled; a failure only loses its connections."""
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
    except Exception:
        log.warning("closing the old producer failed", exc_info=True)
