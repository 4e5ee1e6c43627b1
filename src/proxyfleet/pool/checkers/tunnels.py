"""Opening a tunnel to a target through a proxy: HTTP CONNECT, SOCKS4(a) and SOCKS5, each with
the proxy's credentials when it has some (Basic `Proxy-Authorization`, the SOCKS4 user id,
RFC 1929).

Each function runs one handshake over streams already connected to the proxy and returns
once bytes flow to the target. The caller bounds the time. Imports `core`, this package and
the standard library.
"""

from __future__ import annotations

import asyncio

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers import handshakes as hs
from proxyfleet.pool.checkers.streams import read_exactly, read_head, send

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def proxy_authorization(proxy: ProxyAddress) -> str | None:
    if proxy.username is None:
        return None
    return hs.basic_proxy_authorization(proxy.username, proxy.password)


async def http_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    reader, writer = streams
    await send(writer, hs.http_connect_request(host, port, proxy_authorization(proxy)))
    status, reason, _ = await read_head(reader, "the CONNECT answer")
    hs.check_connect_status(status, reason)


async def socks4_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    reader, writer = streams
    await send(writer, hs.socks4_connect_request(host, port, proxy.username))
    hs.parse_socks4_reply(await read_exactly(reader, hs.SOCKS4_REPLY_SIZE, "the SOCKS4 reply"))


async def socks5_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    reader, writer = streams
    with_credentials = proxy.username is not None
    await send(writer, hs.socks5_greeting(with_credentials))
    method = hs.parse_socks5_method(
        await read_exactly(reader, 2, "the SOCKS5 method choice"), with_credentials
    )
    if method is hs.Socks5Method.USERNAME_PASSWORD:
        await _socks5_login(streams, proxy)
    await send(writer, hs.socks5_connect_request(host, port))
    prefix = await read_exactly(reader, hs.SOCKS5_REPLY_PREFIX, "the SOCKS5 reply")
    rest = hs.socks5_reply_size(prefix) - hs.SOCKS5_REPLY_PREFIX
    hs.parse_socks5_reply(prefix + await read_exactly(reader, rest, "the SOCKS5 reply"))


async def _socks5_login(streams: Streams, proxy: ProxyAddress) -> None:
    reader, writer = streams
    await send(writer, hs.socks5_auth_request(proxy.username or "", proxy.password))
    hs.parse_socks5_auth_reply(await read_exactly(reader, 2, "the SOCKS5 auth reply"))
