"""Opening a tunnel to a target through a proxy: HTTP CONNECT, SOCKS4(a) and SOCKS5, each with
the proxy's credentials when it has some (Basic `Proxy-Authorization`, the SOCKS4 user id,
RFC 1929).

Each function runs one handshake over a connection already open to the proxy (a `link.Link`,
or an asyncio stream pair) and returns once bytes flow to the target. The caller bounds the
time. Imports `core`, this package and the standard library.
"""

from __future__ import annotations

import asyncio

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers import handshakes as hs
from proxyfleet.pool.checkers.link import Link
from proxyfleet.pool.checkers.streams import StreamLink

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connection = Link | Streams


def proxy_authorization(proxy: ProxyAddress) -> str | None:
    if proxy.username is None:
        return None
    return hs.basic_proxy_authorization(proxy.username, proxy.password)


def _as_link(connection: Connection) -> Link:
    return StreamLink(*connection) if isinstance(connection, tuple) else connection


async def http_connect(connection: Connection, proxy: ProxyAddress, host: str, port: int) -> None:
    link = _as_link(connection)
    link.send(hs.http_connect_request(host, port, proxy_authorization(proxy)))
    status, reason, _ = await link.read_head("the CONNECT answer")
    hs.check_connect_status(status, reason)


async def socks4_connect(connection: Connection, proxy: ProxyAddress, host: str, port: int
                         ) -> None:
    link = _as_link(connection)
    link.send(hs.socks4_connect_request(host, port, proxy.username))
    hs.parse_socks4_reply(await link.read_exactly(hs.SOCKS4_REPLY_SIZE, "the SOCKS4 reply"))


async def socks5_connect(connection: Connection, proxy: ProxyAddress, host: str, port: int
                         ) -> None:
    link = _as_link(connection)
    with_credentials = proxy.username is not None
    link.send(hs.socks5_greeting(with_credentials))
    method = hs.parse_socks5_method(
        await link.read_exactly(2, "the SOCKS5 method choice"), with_credentials
    )
    if method is hs.Socks5Method.USERNAME_PASSWORD:
        link.send(hs.socks5_auth_request(proxy.username or "", proxy.password))
        hs.parse_socks5_auth_reply(await link.read_exactly(2, "the SOCKS5 auth reply"))
    link.send(hs.socks5_connect_request(host, port))
    prefix = await link.read_exactly(hs.SOCKS5_REPLY_PREFIX, "the SOCKS5 reply")
    rest = hs.socks5_reply_size(prefix) - hs.SOCKS5_REPLY_PREFIX
    hs.parse_socks5_reply(prefix + await link.read_exactly(rest, "the SOCKS5 reply"))
