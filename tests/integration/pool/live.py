"""proxyfleet's app served by uvicorn inside the test's loop, on a socket bound first, so the
settings (its own judge URL) can name the port before the container is built."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from proxyfleet import bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.settings import Settings


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def served(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `app` with uvicorn on `sock` while the block runs."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:  # uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await serving


@asynccontextmanager
async def live_container(settings: Settings) -> AsyncIterator[bootstrap.Container]:
    """A started container whose app (and so its /judge) answers on a real port."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"port": port, "judge_url": None})
    container = bootstrap.build(settings)
    await container.start()
    try:
        async with served(create_app(container), sock):
            yield container
    finally:
        await container.close()
        sock.close()
