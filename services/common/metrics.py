"""Metric names shared by every service (the stream_* family)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RUNTIME_DEAD_LETTER_REASONS: tuple[str, ...] = (
    "empty", "too_large", "invalid_utf8", "invalid_json", "not_an_object", "invalid_beckn",
    "unknown_type", "invalid_payload", "unexpected_type", "handler_error",
)
"""The reasons the shared runtime itself dead-letters for (codec and runner): exported at 0 from
start-up, so `increase(stream_dead_letters_total[..])` is 0 rather than absent on a clean day.
A handler's own HandlerRejected reasons appear when first used."""


@dataclass(frozen=True)
class StreamMetrics:
    registry: CollectorRegistry
    consumed: Counter
    produced: Counter
    dead_letters: Counter
    handler_seconds: Histogram
    replayed: Counter
    response_seconds: Histogram
    lag: Gauge
    ready: Gauge
    produce_retries: Counter


def stream_metrics(registry: CollectorRegistry | None = None) -> StreamMetrics:
    reg = registry or CollectorRegistry()
    metrics = StreamMetrics(
        registry=reg,
        consumed=Counter("stream_messages_consumed_total", "Records consumed",
                         ["topic", "type", "outcome"], registry=reg),
        produced=Counter("stream_messages_produced_total", "Records produced and acknowledged",
                         ["topic"], registry=reg),
        dead_letters=Counter("stream_dead_letters_total", "Records sent to the dead-letter topic",
                             ["reason"], registry=reg),
        handler_seconds=Histogram("stream_handler_duration_seconds", "Handler time per record",
                                  registry=reg,
                                  buckets=(1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1)),
        replayed=Counter("stream_messages_replayed_total",
                         "Records re-read at start-up to rebuild state (outputs suppressed)",
                         ["topic"], registry=reg),
        response_seconds=Histogram(
            "stream_response_seconds",
            "Input record's timestamp to its outputs acknowledged, by input type (for the "
            "load-shifter's beckn.on_update: stress event published -> commands published)",
            ["type"], registry=reg,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)),
        lag=Gauge("stream_consumer_lag_records",
                  "Records on the partition not yet consumed by this service (high watermark - "
                  "position), after each batch", ["topic", "partition"], registry=reg),
        ready=Gauge("stream_ready", "1 when the consumer has joined its group", registry=reg),
        produce_retries=Counter(
            "stream_produce_retries_total",
            "Outputs the producer gave up and the runner tried again, a broker away for longer "
            "than the producer's request timeout (reason: no_room, the send found the buffer "
            "full; given_up, its batch failed)", ["topic", "reason"], registry=reg),
    )
    for reason in RUNTIME_DEAD_LETTER_REASONS:
        metrics.dead_letters.labels(reason)
    return metrics
