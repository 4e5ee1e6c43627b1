"""What the simulators served by aiohttp share: a site on 127.0.0.1 and lenient JSON bodies.
Imports aiohttp and the standard library."""

from __future__ import annotations

from typing import Any

from aiohttp import web

HOST = "127.0.0.1"


async def serve_app(app: web.Application, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on 127.0.0.1 (`port` 0: any free one); the runner and the port taken."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    return runner, int(runner.addresses[0][1])


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or {} when there is none (controls take defaults then)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
