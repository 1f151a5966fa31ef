"""A read-only live page for a service's HTTP face: the page, its JSON snapshot, and the snapshot
pushed as server-sent events whenever the service's view of its streams changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse


class LiveFeed(Protocol):
    """What a service's view offers: a version that moves on every change, and a snapshot."""

    @property
    def version(self) -> int: ...

    def snapshot(self) -> dict[str, Any]: ...


def sse(event: str, data: dict[str, Any], id_: int) -> str:
    """One server-sent event (the JSON has no newlines, so it is a single data line)."""
    return f"id: {id_}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(feed: LiveFeed, closed: Any, *, every_s: float = 0.2,
                 keepalive_s: float = 15.0) -> AsyncIterator[str]:
    """The snapshot now, then again each time the version moves (checked every `every_s`,
    so a burst of changes costs one message); a comment line keeps idle proxies open."""
    yield "retry: 1000\n\n"
    last, idle = -1, 0.0
    while not await closed():
        if feed.version != last:
            last, idle = feed.version, 0.0
            yield sse("state", feed.snapshot(), last)
        elif idle >= keepalive_s:
            idle = 0.0
            yield ": keepalive\n\n"
        await asyncio.sleep(every_s)
        idle += every_s


def live_router(feed: LiveFeed, page_html: str, *, every_s: float = 0.2) -> APIRouter:
    """GET /live (the page), /live/state (the snapshot), /live/stream (text/event-stream)."""
    router = APIRouter()

    @router.get("/live", response_class=HTMLResponse)
    def page() -> str:
        return page_html

    @router.get("/live/state")
    def state() -> JSONResponse:
        return JSONResponse(feed.snapshot())

    @router.get("/live/stream")
    def events(request: Request) -> StreamingResponse:
        async def closed() -> bool:
            stopping = getattr(request.app.state, "stopping", None)
            return bool(stopping is not None and stopping.is_set()) or \
                await request.is_disconnected()

        return StreamingResponse(stream(feed, closed, every_s=every_s),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router
