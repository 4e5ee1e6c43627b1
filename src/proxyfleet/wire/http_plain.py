"""The plain shapes of HTTP/1.1 heads, handled without the general parser.

Most forwarded traffic is plain: an HTTP/1.1 request for `http://host[:port]/path` with
ordinary fields, answered by an HTTP/1.1 response framed by Content-Length. For those a
forward proxy needs only a few facts (target, login, body length) and a few cuts (the
request line, Host and the proxy's own fields), which whole-head regular expressions find at
C speed; the general parser would build every field only to write most of them out again.

Each function here either gives the facts the general path would find (`proxy_request` and
`forward_head`; `response_body` and `client_response_head`), or None, and then the caller
takes the general path: anything unusual (another version, hop-by-hop fields, chunked framing, a
folded or malformed line, an IPv6 literal…) is left to it. The property tests hold the two
paths to the same meaning. `whole_plain_response` answers the commonest case of all, a small
response that arrives whole in one read, without building anything.

Standard library only; imports nothing of the project but `wire.http_body`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from proxyfleet.wire.http_body import NO_BODY, BodyLength, Framing

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELDS = rb"((?:" + _TOKEN + rb":[^\x00\r\n]*\r\n)*)\r\n"
_PLAIN_REQUEST = re.compile(
    rb"(" + _TOKEN + rb") http://([^/?#\s@\[\]]+)(/[^\s#]*)? HTTP/1\.1\r\n" + _FIELDS)
_PLAIN_RESPONSE = re.compile(rb"HTTP/1\.1 ([1-9][0-9][0-9]) [^\x00-\x08\x0a-\x1f\x7f]*\r\n"
                             + _FIELDS)
# Fields a proxy must act on, with their values as sent (names fold to lower case).
_SPECIAL = re.compile(rb"^(host|content-length|transfer-encoding|connection|keep-alive|te|"
                      rb"trailer|upgrade|proxy-[!#$%&'*+\-.^_`|~0-9a-z]*):[ \t]*"
                      rb"([^\r\n]*?)[ \t]*\r\n", re.MULTILINE | re.IGNORECASE)
_DROPPED_LINES = re.compile(rb"^(?:host|connection|proxy-connection|proxy-authorization):"
                            rb".*\r\n", re.MULTILINE | re.IGNORECASE)
# Of those, the ones a forwarded request loses (Host is written anew).
_DROPPED_FROM_REQUEST = frozenset({b"host", b"connection", b"proxy-connection",
                                   b"proxy-authorization"})
_MAX_LENGTH_DIGITS = 18
_tuple = tuple.__new__


class PlainRequest(NamedTuple):
    """What a plain forward request says, in its own bytes. (A tuple, made per forwarded
    request with `tuple.__new__` itself: a fraction of what a dataclass, or even the named
    tuple's own constructor, costs.)"""

    method: bytes
    authority: bytes
    path: bytes
    login: bytes | None
    """The `Proxy-Authorization` value, if any."""
    body: BodyLength
    keep_alive: bool
    """False when the client said `Connection: close`."""
    fields: bytes
    """The field lines to pass on: all but Host, Connection and the proxy's own."""


def plain_request(head: bytes) -> PlainRequest | None:
    """The facts of `head` if it is a plain forward request, else None."""
    match = _PLAIN_REQUEST.fullmatch(head)
    if match is None:
        return None
    method, authority, path, fields = match.groups()
    login: bytes | None = None
    body = NO_BODY
    close = False
    dropping = False
    for name, value in _SPECIAL.findall(fields):
        name = name.lower()
        if name in _DROPPED_FROM_REQUEST:
            dropping = True
        if name == b"host":
            continue
        if name == b"content-length":
            if body is not NO_BODY or not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                return None
            body = BodyLength(Framing.LENGTH, int(value))
        elif name == b"proxy-authorization" and login is None:
            login = value
        elif name == b"connection" and value.lower() == b"close" and not close:
            close = True
        elif name != b"proxy-connection" or value.lower() != b"keep-alive":
            return None
    if dropping:
        fields = _DROPPED_LINES.sub(b"", fields)
    return _tuple(PlainRequest, (method, authority, path or b"/", login, body, not close, fields))


class PlainResponse(NamedTuple):
    status: int
    body: BodyLength
    closes: bool
    """The origin said `Connection: close`: the head says so to the client too."""


def plain_response(head: bytes, request_method: str) -> PlainResponse | None:
    """Status and body length of a plain final response to an HTTP/1.1 client, which may
    then have the head exactly as it came when its `closes` is what the proxy would say:
    there is nothing else in it to replace."""
    facts = _response_facts(head, len(head), request_method)
    if facts is None:
        return None
    status, length, closes = facts
    body = NO_BODY if length is None else BodyLength(Framing.LENGTH, length)
    return PlainResponse(status, body, closes)


def whole_plain_response(data: bytes, request_method: str) -> bool | None:
    """When `data` is exactly one plain final response (see `plain_response`), head and
    whole body, whether it closes the connection; None for anything else. The one-read
    answer to a small request, found without building a thing."""
    end = data.find(b"\r\n\r\n") + 4
    if end < 4:
        return None
    facts = _response_facts(data, end, request_method)
    if facts is None or len(data) - end != (facts[1] or 0):
        return None
    return facts[2]


def _response_facts(data: bytes, end: int, request_method: str
                    ) -> tuple[int, int | None, bool] | None:
    """Status, body length (None: the response has no body) and `closes` of the plain
    response head `data[:end]`."""
    match = _PLAIN_RESPONSE.fullmatch(data, 0, end)
    if match is None:
        return None
    status = int(match[1])
    if status < 200:
        return None
    length = -1
    closes = False
    for name, value in _SPECIAL.findall(match[2]):
        name = name.lower()
        if name == b"connection" and value.lower() == b"close" and not closes:
            closes = True
        elif (name != b"content-length" or length >= 0 or not value.isdigit()
                or len(value) > _MAX_LENGTH_DIGITS):
            return None
        else:
            length = int(value)
    if request_method == "HEAD" or status in (204, 304):
        return status, None, closes
    return None if length < 0 else (status, length, closes)
