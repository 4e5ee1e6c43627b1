"""Asking the judge: where it is (`JudgeAddress`), the request we send it, reading its report
back over a stream, and `own_public_ip`, which asks it directly who we are.

The judge speaks plain HTTP (it is served by proxyfleet itself, usually on loopback).
Imports `core`, `pool.judge`, this package and the standard library.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxyfleet.pool.checkers.errors import BadJudgeAnswer, ProxyAuthRejected
from proxyfleet.pool.checkers.handshakes import host_port, http_request
from proxyfleet.pool.checkers.streams import read_body, read_head, send
from proxyfleet.pool.judge import JudgeReport

USER_AGENT = "proxyfleet-checker"


@dataclass(frozen=True, slots=True)
class JudgeAddress:
    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> JudgeAddress:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the judge URL must be http://host[:port]/path, not {url!r}")
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return cls(host=parts.hostname, port=parts.port or 80, path=path)

    @property
    def authority(self) -> str:
        return host_port(self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.authority}{self.path}"


def judge_request(judge: JudgeAddress, *, absolute: bool, authorization: str | None) -> bytes:
    """The GET for the judge: absolute-form for an HTTP proxy, origin-form inside a tunnel."""
    headers = [
        ("Host", judge.authority),
        ("User-Agent", USER_AGENT),
        ("Accept", "application/json"),
        ("Connection", "close"),
    ]
    if authorization is not None:
        headers.append(("Proxy-Authorization", authorization))
    return http_request("GET", judge.url if absolute else judge.path, headers)


async def read_report(reader: asyncio.StreamReader) -> JudgeReport:
    status, reason, headers = await read_head(reader, "the judge's answer")
    # Our judge never asks for a login, so a 401 comes from the proxy too (tinyproxy answers
    # a wrong Proxy-Authorization with 401 rather than 407).
    if status in {401, 407}:
        raise ProxyAuthRejected(f"proxy authentication failed (HTTP {status})")
    if status != 200:
        raise BadJudgeAnswer(f"judge request answered HTTP {status} {reason}".rstrip())
    return parse_report(await read_body(reader, headers, "the judge's report"))


def parse_report(body: bytes) -> JudgeReport:
    try:
        document = json.loads(body)
    except ValueError:
        raise BadJudgeAnswer("the judge's answer is not JSON") from None
    if not isinstance(document, dict):
        raise BadJudgeAnswer("the judge's answer is not a JSON object")
    origin, headers = document.get("origin"), document.get("headers")
    if not isinstance(origin, str) or not isinstance(headers, dict):
        raise BadJudgeAnswer("the judge's answer lacks `origin` or `headers`")
    return JudgeReport(origin=origin, headers={str(k): str(v) for k, v in headers.items()})


async def ask_judge(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> JudgeReport:
    await send(writer, request)
    return await read_report(reader)


async def own_public_ip(judge_url: str, timeout_s: float = 10.0) -> str:
    """Our address as the judge sees it with no proxy in between: what transparency means."""
    judge = JudgeAddress.from_url(judge_url)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(judge.host, judge.port)
        try:
            request = judge_request(judge, absolute=False, authorization=None)
            return (await ask_judge(reader, writer, request))["origin"]
        finally:
            writer.close()
