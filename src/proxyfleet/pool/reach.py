"""Can a proxy reach a URL? One GET through the proxy (absolute URI for HTTP proxies; a tunnel
— CONNECT, SOCKS4, SOCKS5 — for the rest, with TLS inside it for https URLs), reporting the
target's status code and the time to the first response line. Imports `core`, the checkers'
handshake helpers and the standard library."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers import handshakes as hs
from proxyfleet.pool.checkers import tunnels
from proxyfleet.pool.checkers.errors import describe
from proxyfleet.pool.checkers.streams import read_head, send

# Statuses a forwarding HTTP proxy answers by itself when it could not reach the target.
PROXY_FAILURES = frozenset({502, 503, 504})
TUNNELS = {
    ProxyProtocol.HTTPS: tunnels.http_connect,
    ProxyProtocol.SOCKS4: tunnels.socks4_connect,
    ProxyProtocol.SOCKS5: tunnels.socks5_connect,
}


@dataclass(frozen=True, slots=True)
class Reach:
    reachable: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    url: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("only http and https URLs can be tested")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path, url)


async def reach(proxy: ProxyAddress, target: Target, seconds: float) -> Reach:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            status = await _status_through(proxy, target)
    except TimeoutError:
        return Reach(False, None, None, f"timed out after {seconds:g} s")
    except OSError as error:  # ssl.SSLError included
        return Reach(False, None, None, describe(error))
    latency = round((time.perf_counter() - started) * 1000, 1)
    if proxy.protocol is ProxyProtocol.HTTP and status in PROXY_FAILURES:
        return Reach(False, status, latency, f"the proxy answered {status}")
    return Reach(True, status, latency, None)


async def _status_through(proxy: ProxyAddress, target: Target) -> int:
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    try:
        if proxy.protocol is ProxyProtocol.HTTP and target.scheme == "http":
            request_target, headers = target.url, _proxy_auth(proxy)
        else:
            tunnel = TUNNELS.get(proxy.protocol, tunnels.http_connect)
            await tunnel((reader, writer), proxy, target.host, target.port)
            if target.scheme == "https":
                await writer.start_tls(ssl.create_default_context(),
                                       server_hostname=target.host)
            request_target, headers = target.path, []
        headers += [("Host", hs.host_port(target.host, target.port)), ("Connection", "close"),
                    ("User-Agent", "proxyfleet-reach/1")]
        await send(writer, hs.http_request("GET", request_target, headers))
        status, _, _ = await read_head(reader, "the target's answer")
        return status
    finally:
        writer.close()


def _proxy_auth(proxy: ProxyAddress) -> list[tuple[str, str]]:
    authorization = tunnels.proxy_authorization(proxy)
    return [("Proxy-Authorization", authorization)] if authorization else []
