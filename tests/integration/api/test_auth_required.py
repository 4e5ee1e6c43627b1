"""Every route except the documented public ones answers 401 without a valid key."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from proxyfleet.api.app import PUBLIC_PATHS, create_app
from proxyfleet.bootstrap import Container
from tests.conftest import Member, register

# Seed 002's surface answers in FastAPI's own shape, `{"detail": "..."}`, 401 included.
FASTAPI_SHAPED = ("/api/external-proxy", "/api/telegram")


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute, including those of routers FastAPI keeps nested."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _api_routes(nested.routes, prefix + nested.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _protected_routes(container: Container) -> list[tuple[str, str]]:
    app = create_app(container)
    found = []
    for full_path, route in _api_routes(app.routes):
        if full_path in PUBLIC_PATHS:
            continue
        path = re.sub(r"\{[^}]+:int\}", "1", full_path)  # seed 000's proxy numbers
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        found.extend((method, path) for method in sorted(route.methods))
    return found


async def _assert_all_401(client: httpx.AsyncClient, routes: list[tuple[str, str]],
                          headers: dict[str, str]) -> None:
    for method, path in routes:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        body = response.json()
        if path.startswith(FASTAPI_SHAPED):
            assert isinstance(body["detail"], str)
            continue
        # Each surface in its own shape: seed 004's routes flat, the pool's nested.
        code = body["code"] if isinstance(body["error"], str) else body["error"]["code"]
        assert code == "UNAUTHORIZED", (method, path)


async def test_every_protected_route_rejects_missing_wrong_and_revoked_keys(
    client: httpx.AsyncClient, container: Container
) -> None:
    routes = _protected_routes(container)
    assert ("GET", "/account") in routes
    documented = {(m.upper(), p) for p, ops in create_app(container).openapi()["paths"].items()
                  for m in ops if p not in PUBLIC_PATHS}
    assert len(routes) == len(documented)

    member: Member = await register(client)
    spare = (await client.post("/auth/keys", headers=member.headers)).json()
    revoked = await client.delete(f"/auth/keys/{spare['id']}", headers=member.headers)
    assert revoked.status_code == 204

    await _assert_all_401(client, routes, {})
    await _assert_all_401(client, routes, {"Authorization": "Bearer pp_" + "a" * 48})
    await _assert_all_401(client, routes, {"Authorization": "Basic Zm9vOmJhcg=="})
    await _assert_all_401(client, routes, {"Authorization": f"Bearer {spare['key']}"})


@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
async def test_public_routes_answer_without_a_key(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200
