"""GET /health: which database, whether each dependency answers; 503 when one does not."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from proxyfleet import __version__, bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.settings import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_health_reports_the_database_in_use(client: httpx.AsyncClient,
                                                  settings: Settings) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == __version__
    backend = settings.effective_database_url.split(":")[0].split("+")[0]
    assert body["database"] == backend
    field = {"postgresql": "postgres", "sqlite": "sqlite"}[backend]
    assert body[field] == "connected"
    assert body["redis"] == ("connected" if settings.redis_url else "not_configured")


async def _health_of(settings: Settings) -> httpx.Response:
    container = bootstrap.build(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/health")
    finally:
        await container.close()


async def test_unreachable_database_is_503_not_500(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s",
                        database_url=f"postgresql://nobody@127.0.0.1:{_closed_port()}/none")
    response = await _health_of(settings)
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["postgres"] == "unreachable"


async def test_unreachable_redis_is_503(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s",
                        redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = await _health_of(settings)
    assert response.status_code == 503
    assert response.json()["redis"] == "unreachable"
    assert response.json()["sqlite"] == "connected"
