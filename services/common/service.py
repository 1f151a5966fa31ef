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


def configure_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


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
