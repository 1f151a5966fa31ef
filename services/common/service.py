"""Process lifecycle shared by every service: logging, signals, HTTP next to the consume loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from services.common.http import make_app, serve
from services.common.runner import Runner
from services.common.throttle import LogThrottle

log = logging.getLogger(__name__)


class ThrottleFilter(logging.Filter):
    """Rate-limits the log records of the loggers under `prefix`, per logger and message
    template: the first `burst` per interval pass, the rest are counted and reported in one
    summary line when a record of theirs arrives after the interval. For aiokafka, whose
    producer logs an error per retry, thousands a second, while a broker is away."""

    def __init__(self, prefix: str, throttle: LogThrottle) -> None:
        super().__init__()
        self.prefix = prefix
        self.throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != self.prefix and not record.name.startswith(self.prefix + "."):
            return True
        due = self.throttle.summary()  # first: a new interval gives this record a fresh burst
        if due is not None:
            seconds, muted = due
            log.warning("%s log lines not shown in the last %.0f s: %s", self.prefix, seconds,
                        ", ".join(f"{n} x {k!r}" for k, n in muted.items()))
        return self.throttle.admit(f"{record.name}: {record.msg}")


def configure_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    for h in logging.getLogger().handlers:
        h.addFilter(ThrottleFilter("aiokafka", LogThrottle(burst=5, interval_s=60.0)))


async def run_service(runner: Runner[Any], routers: Sequence[APIRouter] = ()) -> None:
    """Run until SIGTERM/SIGINT: the loop finishes its batch, commits and closes. `routers` are
    added to the service's HTTP server."""
    s = runner.settings
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    stopping = asyncio.Event()
    http_task = None
    if s.http_port:
        app = make_app(s.service_name, runner.metrics.registry, lambda: runner.ready,
                       s.http_token, routers)
        http_task = asyncio.create_task(serve(app, s.http_host, s.http_port, stopping))
    try:
        await runner.run()
    finally:
        stopping.set()
        if http_task is not None:
            await http_task
