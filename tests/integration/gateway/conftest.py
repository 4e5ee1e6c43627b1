from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.server import ProxyServer
from tests.integration.gateway.loopback import Origin, origin_on

USER, PASSWORD = "alice", "s3cret"
ALL_PROTOCOLS = frozenset(ListenerProtocol)

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def check_password(username: str, password: str) -> bool:
    return (username, password) == (USER, PASSWORD)


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    async with origin_on("127.0.0.1") as running:
        yield running


@pytest.fixture
async def proxy() -> AsyncIterator[ProxyServer]:
    async with ProxyServer(ListenerConfig(protocols=ALL_PROTOCOLS)) as server:
        yield server


@pytest.fixture
async def locked_proxy() -> AsyncIterator[ProxyServer]:
    async def authenticate(username: str, password: str) -> bool:
        return check_password(username, password)

    async with ProxyServer(ListenerConfig(protocols=ALL_PROTOCOLS),
                           authenticate=authenticate) as server:
        yield server
