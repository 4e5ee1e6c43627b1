"""Real clients through an instance: curl (a subprocess), Python requests with PySocks (in a
thread, since the proxy runs on the test's own loop) and a raw SOCKS5 handshake."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

import requests

TIMEOUT = 15.0


@dataclass(frozen=True)
class Fetched:
    status: int
    """HTTP status, or 0 when the client got no HTTP answer at all."""
    body: str


def proxy_url(kind: str, endpoint: str) -> str:
    """`socks5h`: the proxy resolves names, as `--socks5-hostname` does."""
    return f"http://{endpoint}" if kind == "http" else f"socks5h://{endpoint}"


async def curl(kind: str, endpoint: str, url: str) -> Fetched:
    option = ["-x", f"http://{endpoint}"] if kind == "http" else ["--socks5-hostname", endpoint]
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-m", "10", *option, "-w", "\n%{http_code}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(TIMEOUT):
        out, _ = await process.communicate()
    body, _, code = out.decode().rpartition("\n")
    return Fetched(int(code or 0), body)


def _get(proxy: str, url: str) -> Fetched:
    try:
        answer = requests.get(url, proxies={"http": proxy, "https": proxy}, timeout=10)
    except requests.RequestException:
        return Fetched(0, "")
    return Fetched(answer.status_code, answer.text)


async def python_requests(kind: str, endpoint: str, url: str) -> Fetched:
    async with asyncio.timeout(TIMEOUT):
        return await asyncio.to_thread(_get, proxy_url(kind, endpoint), url)


async def socks5_connect_reply(endpoint: str, host: str, port: int) -> int:
    """The REP field a SOCKS5 listener answers a CONNECT to `host:port` (a name) with."""
    address, _, listen_port = endpoint.rpartition(":")
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(address, int(listen_port))
        try:
            writer.write(b"\x05\x01\x00")
            await reader.readexactly(2)
            name = host.encode()
            writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name
                         + struct.pack("!H", port))
            reply = await reader.readexactly(2)
        finally:
            writer.close()
    return reply[1]
