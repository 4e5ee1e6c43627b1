"""A webhook receiver on loopback: records every POST, answers with the status it is told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    # While set, requests are held open and never answered (a hung receiver).
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body))
        self.arrived.set()
        while self.hang:
            await asyncio.sleep(0.05)
        return web.Response(status=self.status, text="ok")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [r.document for r in self.received
                if name is None or r.document["event"] == name]


@asynccontextmanager
async def receiving(path: str = "/hook") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        receiver.hang = False
        await runner.cleanup()
