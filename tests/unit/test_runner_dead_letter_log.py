"""The runner dead-letters and counts every bad record while its log lines are rate-limited."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.events import MeterReadingRecorded
from contracts.topics import READINGS
from services.common.codec import encode, envelope
from services.common.metrics import stream_metrics
from services.common.runner import DeadLetter, Inbound, Out, Runner, ignore
from services.common.settings import ServiceSettings

TOPIC = READINGS.name


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(offset: int, value: bytes) -> Any:
    return SimpleNamespace(topic=TOPIC, partition=0, offset=offset, key=b"k", value=value,
                           headers=[], timestamp=0)


def reading(i: int) -> bytes:
    t = datetime(2025, 11, 17, tzinfo=UTC) + timedelta(minutes=i)
    ev = MeterReadingRecorded(site_id="site-1", start=t, end=t + timedelta(minutes=1),
                              import_kwh=1.0, load_kwh=1.0, battery_discharge_kwh=0.0)
    return encode(envelope(ev, id=f"r-{i}", time=t, source="test"))


def runner(clock: Clock, handler: Any = ignore) -> Runner[None]:
    s = ServiceSettings(service_name="svc", dead_letter_log_burst=2,
                        dead_letter_log_interval_s=60)
    return Runner(s, None, {t: handler for t in READINGS.types}, (READINGS,), stream_metrics(),
                  log_clock=clock)


def reasons(outs: list[Out | DeadLetter]) -> list[str]:
    assert all(isinstance(o, DeadLetter) for o in outs)
    return [dict(o.headers)["dlq.reason"].decode() for o in outs]  # type: ignore[union-attr]


def dead_letter_count(r: Runner[None], reason: str) -> float:
    return r.metrics.registry.get_sample_value("stream_dead_letters_total", {"reason": reason})


def test_every_bad_record_is_dead_lettered_and_counted_but_only_a_few_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    r = runner(clock)
    bad = [b"\xff\xfe"] * 5 + [b"[1]"] * 3  # 5 invalid_utf8, 3 not_an_object
    with caplog.at_level(logging.WARNING, logger="services.common.runner"):
        got = [reasons(r._process(record(i, v), False)[1]) for i, v in enumerate(bad)]
        assert got == [["invalid_utf8"]] * 5 + [["not_an_object"]] * 3
        assert dead_letter_count(r, "invalid_utf8") == 5
        assert dead_letter_count(r, "not_an_object") == 3
        logged = [m.getMessage() for m in caplog.records]
        assert [m.split(": ")[1] for m in logged] == ["invalid_utf8", "invalid_utf8",
                                                      "not_an_object", "not_an_object"]
        assert logged[0].startswith(f"dead letter {TOPIC}[0]@0: invalid_utf8")
        caplog.clear()
        r.log_dead_letter_summary()  # the interval is not over: nothing yet
        assert caplog.records == []
        clock.now = 61
        r.log_dead_letter_summary()
        assert [m.getMessage() for m in caplog.records] == [
            ("dead letters not logged in the last 61 s (first 2 per reason are): "
             "invalid_utf8=3 not_an_object=1")]


def test_handler_errors_are_logged_with_their_traceback_within_the_limit(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(state: None, message: Inbound) -> list[Out]:
        raise RuntimeError(f"bug on {message.message_id}")

    clock = Clock()
    r = runner(clock, broken)
    with caplog.at_level(logging.WARNING, logger="services.common.runner"):
        got = [reasons(r._process(record(i, reading(i)), False)[1]) for i in range(3)]
        r.log_dead_letter_summary(force=True)
    assert got == [["handler_error"]] * 3 and dead_letter_count(r, "handler_error") == 3
    first, second, summary = caplog.records
    assert first.levelno == logging.ERROR and first.exc_info is not None
    assert first.getMessage().endswith("handler_error: RuntimeError: bug on r-0")
    assert second.getMessage().endswith("handler_error: RuntimeError: bug on r-1")
    assert summary.getMessage().endswith("(first 2 per reason are): handler_error=1")


def test_records_skipped_while_rebuilding_state_are_not_logged_unless_a_handler_failed(
        caplog: pytest.LogCaptureFixture) -> None:
    r = runner(Clock())
    with caplog.at_level(logging.WARNING, logger="services.common.runner"):
        assert r._process(record(0, b"\xff"), True)[1] == []
    assert caplog.records == [] and dead_letter_count(r, "invalid_utf8") == 0
