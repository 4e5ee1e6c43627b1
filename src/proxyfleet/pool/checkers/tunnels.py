"""Opening a tunnel to a target through a proxy: HTTP CONNECT, SOCKS4(a) and SOCKS5, each with
the proxy's credentials when it has some (Basic `Proxy-Authorization`, the SOCKS4 user id,
RFC 1929).

Each handshake is a conversation (`*_steps`, see `conversation`) that ends once bytes flow to
the target: the checks run it inside their own conversation over a `link.ProxyLink`; callers
holding an asyncio stream pair (`pool.reach`) run it through `http_connect`,
`socks4_connect` or `socks5_connect`. The caller bounds the time. Imports `core`, this package
and the standard library.
"""

from __future__ import annotations

import asyncio

from proxyfleet.core.proxies import ProxyAddress
from proxyfleet.pool.checkers import handshakes as hs
from proxyfleet.pool.checkers.base import _tuple
from proxyfleet.pool.checkers.conversation import HEAD, Conversation, Step
from proxyfleet.pool.checkers.streams import StreamLink

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def proxy_authorization(proxy: ProxyAddress) -> str | None:
    if proxy.username is None:
        return None
    return hs.basic_proxy_authorization(proxy.username, proxy.password)


# --- the conversations ---------------------------------------------------------------------

def http_connect_steps(proxy: ProxyAddress, host: str, port: int) -> Conversation[None]:
    request = hs.http_connect_request(host, port, proxy_authorization(proxy))
    answer = yield _tuple(Step, (request, HEAD, "the CONNECT answer"))
    status, reason, _ = hs.parse_http_head(answer)
    hs.check_connect_status(status, reason)


def socks4_steps(proxy: ProxyAddress, host: str, port: int) -> Conversation[None]:
    request = hs.socks4_connect_request(host, port, proxy.username)
    hs.parse_socks4_reply((yield _tuple(Step, (request, hs.SOCKS4_REPLY_SIZE,
                                                "the SOCKS4 reply"))))


def socks5_steps(proxy: ProxyAddress, host: str, port: int) -> Conversation[None]:
    with_credentials = proxy.username is not None
    greeting = hs.socks5_greeting(with_credentials)
    choice = yield _tuple(Step, (greeting, 2, "the SOCKS5 method choice"))
    if hs.parse_socks5_method(choice, with_credentials) is hs.Socks5Method.USERNAME_PASSWORD:
        login = hs.socks5_auth_request(proxy.username or "", proxy.password)
        hs.parse_socks5_auth_reply((yield _tuple(Step, (login, 2, "the SOCKS5 auth reply"))))
    request = hs.socks5_connect_request(host, port)
    prefix = yield _tuple(Step, (request, hs.SOCKS5_REPLY_PREFIX, "the SOCKS5 reply"))
    rest = hs.socks5_reply_size(prefix) - hs.SOCKS5_REPLY_PREFIX
    hs.parse_socks5_reply(prefix + (yield _tuple(Step, (b"", rest, "the SOCKS5 reply"))))


# --- over a stream pair --------------------------------------------------------------------

async def http_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    await StreamLink(*streams).converse(http_connect_steps(proxy, host, port))


async def socks4_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    await StreamLink(*streams).converse(socks4_steps(proxy, host, port))


async def socks5_connect(streams: Streams, proxy: ProxyAddress, host: str, port: int) -> None:
    await StreamLink(*streams).converse(socks5_steps(proxy, host, port))
