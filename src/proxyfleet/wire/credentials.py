"""Username and password as the proxy protocols carry them, and HTTP Basic encoding.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from proxyfleet.wire.errors import WireError


class BadCredentials(WireError):
    """A `Basic` credential that is not base64 of `username:password`."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def encode_basic(credentials: Credentials) -> str:
    """The `Basic …` value of an Authorization or Proxy-Authorization header."""
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def decode_basic(value: str) -> Credentials | None:
    """Credentials from a `Basic …` header value; None for any other scheme."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except ValueError as exc:  # binascii.Error, non-ASCII input, bad UTF-8
        raise BadCredentials("malformed Basic credentials") from exc
    username, colon, password = pair.partition(":")
    if not colon:
        raise BadCredentials("Basic credentials without a colon")
    return Credentials(username, password)
