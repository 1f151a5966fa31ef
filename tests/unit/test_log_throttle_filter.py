"""The aiokafka log flood while a broker is away: rate-limited per logger and template."""

from __future__ import annotations

import logging

from services.common.service import ThrottleFilter
from services.common.throttle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _setup() -> tuple[Clock, Keep, logging.Logger]:
    clock = Clock()
    keep = Keep()
    keep.addFilter(ThrottleFilter("aiokafka", LogThrottle(burst=2, interval_s=60, clock=clock)))
    for name in ("aiokafka.producer.sender", "aiokafkax", "services.common.service"):
        lg = logging.getLogger(name)
        lg.handlers, lg.propagate, lg.level = [keep], False, logging.DEBUG
    return clock, keep, logging.getLogger("aiokafka.producer.sender")


def test_a_flood_passes_its_burst_then_one_summary_per_interval() -> None:
    clock, keep, sender = _setup()
    for i in range(1000):
        sender.error("Got error produce response: %s", f"LeaderNotAvailable {i}")
    sender.error("another template %s", 1)
    assert [r.getMessage() for r in keep.records] == [
        "Got error produce response: LeaderNotAvailable 0",
        "Got error produce response: LeaderNotAvailable 1",
        "another template 1",  # its own key, its own burst
    ]

    clock.t = 61
    sender.error("Got error produce response: %s", "LeaderNotAvailable again")

    summary, again = keep.records[3:]
    assert summary.name == "services.common.service" and summary.levelno == logging.WARNING
    assert summary.getMessage() == (  # 1000 - 2 of the burst
        "aiokafka log lines not shown in the last 61 s: 998 x 'aiokafka.producer.sender: "
        "Got error produce response: %s'")
    assert again.getMessage() == "Got error produce response: LeaderNotAvailable again"


def test_other_loggers_pass_untouched() -> None:
    _, keep, _ = _setup()
    other = logging.getLogger("aiokafkax")
    for _ in range(10):
        other.error("not aiokafka's")
    assert len(keep.records) == 10
