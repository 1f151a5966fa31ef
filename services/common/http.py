"""The small HTTP face of every service: /healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def make_app(name: str, registry: CollectorRegistry, is_ready: Callable[[], bool]) -> FastAPI:
    app = FastAPI(title=name, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        if not is_ready():
            response.status_code = 503
            return {"status": "starting", "service": name}
        return {"status": "ready", "service": name}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def serve(app: FastAPI, host: str, port: int, stopping: asyncio.Event) -> None:
    """Run uvicorn inside the service's event loop until `stopping` is set."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await stopping.wait()
    server.should_exit = True
    await task
