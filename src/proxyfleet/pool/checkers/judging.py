"""Asking the judge: where it is (`JudgeAddress`), the request we send it, the conversation
that sends it and reads the report back (`report_steps`), and `own_public_ip`, which asks it
directly who we are.

The judge speaks plain HTTP (it is served by proxyfleet itself, usually on loopback).
Imports `core`, `pool.judge`, this package and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxyfleet.pool.checkers.base import _tuple
from proxyfleet.pool.checkers.conversation import (
    HEAD,
    MAX_BODY_BYTES,
    TO_CLOSE,
    Conversation,
    Step,
    too_large,
)
from proxyfleet.pool.checkers.errors import BadJudgeAnswer, HandshakeError, ProxyAuthRejected
from proxyfleet.pool.checkers.handshakes import host_port, http_request, parse_http_head
from proxyfleet.pool.checkers.link import open_link_by
from proxyfleet.pool.judge import JudgeReport

USER_AGENT = "proxyfleet-checker"


@dataclass(frozen=True, slots=True)
class JudgeAddress:
    host: str
    port: int
    path: str

    @classmethod
    @functools.lru_cache(maxsize=64)  # every check names the same judge or few: parse once
    def from_url(cls, url: str) -> JudgeAddress:
        return cls._parse(url)

    @classmethod
    def _parse(cls, url: str) -> JudgeAddress:
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
    request = _plain_judge_request(judge, absolute)
    if authorization is None:
        return request
    # The credentials go last, spliced in before the blank line; they are never cached.
    return request[:-2] + f"Proxy-Authorization: {authorization}\r\n\r\n".encode("latin-1")


@functools.lru_cache(maxsize=64)
def _plain_judge_request(judge: JudgeAddress, absolute: bool) -> bytes:
    headers = [
        ("Host", judge.authority),
        ("User-Agent", USER_AGENT),
        ("Accept", "application/json"),
        ("Connection", "close"),
    ]
    return http_request("GET", judge.url if absolute else judge.path, headers)


def report_steps(request: bytes) -> Conversation[JudgeReport]:
    """Send `request`, read the judge's report: its body is `Content-Length` bytes when
    declared, else everything up to the close."""
    head = yield _tuple(Step, (request, HEAD, "the judge's answer"))
    status, reason, headers = parse_http_head(head)
    # Our judge never asks for a login, so a 401 comes from the proxy too (tinyproxy answers
    # a wrong Proxy-Authorization with 401 rather than 407).
    if status in {401, 407}:
        raise ProxyAuthRejected(f"proxy authentication failed (HTTP {status})")
    if status != 200:
        raise BadJudgeAnswer(f"judge request answered HTTP {status} {reason}".rstrip())
    length = content_length(headers)
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large("the judge's report")
    size = TO_CLOSE if length is None else length
    body = yield _tuple(Step, (b"", size, "the judge's report"))
    return parse_report(body)


def content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            if not (value.isascii() and value.isdigit()):
                raise HandshakeError(f"bad Content-Length: {value[:20]!r}")
            return int(value)
    return None


def parse_report(body: bytes) -> JudgeReport:
    try:
        try:
            text = body.decode()
            # A byte order mark, which `json.loads` of bytes allows (not through the
            # "utf-8-sig" codec, which is written in Python).
            document = _json_document(text[1:] if text.startswith("\ufeff") else text)
        except UnicodeDecodeError:  # UTF-16 or -32, which `json.loads` also reads
            document = json.loads(body)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadJudgeAnswer("the judge's answer is not JSON") from None
    if not isinstance(document, dict):
        raise BadJudgeAnswer("the judge's answer is not a JSON object")
    origin, headers = document.get("origin"), document.get("headers")
    if not isinstance(origin, str) or not isinstance(headers, dict):
        raise BadJudgeAnswer("the judge's answer lacks `origin` or `headers`")
    for value in headers.values():
        if type(value) is not str:  # JSON keys are strings already
            headers = {str(k): str(v) for k, v in headers.items()}
            break
    return JudgeReport(origin=origin, headers=headers)


# The C scanner `loads` uses, which `JSONDecoder.__init__` sets (typeshed does not declare it).
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_SPACE = " \t\n\r"


def _json_document(text: str) -> object:
    """`json.loads` of a str, as its C scanner reads it: what `loads` and `decode` add in
    Python (an encoding sniff for bytes, a regex for the surrounding white space) costs more
    than the scanning, once per check."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        document, end = _scan_json(text, start)
    except StopIteration:
        raise json.JSONDecodeError("Expecting value", text, start) from None
    if text[end:].strip(_JSON_SPACE):
        raise json.JSONDecodeError("Extra data", text, end)
    return document


async def own_public_ip(judge_url: str, timeout_s: float = 10.0) -> str:
    """Our address as the judge sees it with no proxy in between: what transparency means."""
    judge = JudgeAddress.from_url(judge_url)
    deadline = asyncio.get_running_loop().time() + timeout_s
    link = await open_link_by(judge.host, judge.port, deadline)
    try:
        request = judge_request(judge, absolute=False, authorization=None)
        return (await link.converse(report_steps(request), deadline))["origin"]
    finally:
        link.close()
