"""The engine authorizes every request on a kept-alive connection as itself: a later request
with another login is checked again, and refused when that login is wrong."""

from __future__ import annotations

import asyncio

from proxyfleet.gateway.server import ProxyServer
from proxyfleet.wire.credentials import Credentials, encode_basic
from tests.integration.gateway.conftest import PASSWORD, USER
from tests.integration.gateway.loopback import TIMEOUT, Origin


def _request(origin: Origin, path: str, user: str, password: str) -> bytes:
    login = encode_basic(Credentials(user, password))
    return (f"GET {origin.url(path)} HTTP/1.1\r\nHost: x\r\n"
            f"Proxy-Authorization: {login}\r\n\r\n").encode()


async def _answer(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return head + await reader.readexactly(length)


async def test_a_later_request_with_a_wrong_login_is_refused(locked_proxy: ProxyServer,
                                                             origin: Origin) -> None:
    reader, writer = await asyncio.open_connection(*locked_proxy.address)
    writer.write(_request(origin, "/one", USER, PASSWORD))
    assert (await _answer(reader)).startswith(b"HTTP/1.1 200 OK")
    writer.write(_request(origin, "/two", USER, "wrong"))
    refused = await _answer(reader)
    writer.close()
    assert refused.startswith(b"HTTP/1.1 407 Proxy Authentication Required")
    assert [path for _, path, _ in origin.requests] == ["/one"]


async def test_a_later_request_with_another_good_login_is_checked_and_served(
        origin: Origin) -> None:
    asked: list[str] = []

    def authenticate(username: str, password: str) -> bool:
        asked.append(username)
        return password == "pw"

    async with ProxyServer(authenticate=authenticate) as proxy:
        reader, writer = await asyncio.open_connection(*proxy.address)
        for path, user in (("/a", "first"), ("/b", "first"), ("/c", "second")):
            writer.write(_request(origin, path, user, "pw"))
            assert (await _answer(reader)).startswith(b"HTTP/1.1 200 OK")
        writer.close()
    assert asked == ["first", "second"]  # each login checked once, each as itself
