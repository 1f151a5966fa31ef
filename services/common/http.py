"""The small HTTP face of every service: /healthz, /readyz and /metrics, plus any read-only
routers a service adds (settlement's live page).

Those read-only endpoints are open (GET/HEAD); any other route (an endpoint that changes state)
requires `Authorization: Bearer <http_token>`, and is refused outright when no token is set.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_METHODS = frozenset({"GET", "HEAD"})


def _unauthorised(detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="degflex"'})


def require_token(app: FastAPI, token: SecretStr | None,
                  open_paths: frozenset[str] = OPEN_PATHS) -> None:
    """Every request but a GET/HEAD of an open path must carry the bearer token."""
    expected = token.get_secret_value().encode() if token is not None else None

    @app.middleware("http")
    async def bearer(request: Request,
                     call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path in open_paths and request.method in OPEN_METHODS:
            return await call_next(request)
        if expected is None:
            return _unauthorised("no http_token is configured: state-changing endpoints are off")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 expected):
            return _unauthorised("missing or wrong bearer token")
        return await call_next(request)


def make_app(name: str, registry: CollectorRegistry, is_ready: Callable[[], bool],
             token: SecretStr | None = None, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The three endpoints every service has, plus a service's own read-only routers (their
    GET paths are open like /metrics; they must not change state)."""
    app = FastAPI(title=name, docs_url=None, redoc_url=None, openapi_url=None)
    read_only = {getattr(route, "path", "") for r in routers for route in r.routes}
    require_token(app, token, OPEN_PATHS | read_only)
    for router in routers:
        app.include_router(router)

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
    """Run uvicorn inside the service's event loop until `stopping` is set. Long-lived responses
    (server-sent events) see `app.state.stopping` and end; any left are cut after 2 s."""
    app.state.stopping = stopping
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=2))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await stopping.wait()
    server.should_exit = True
    await task
