"""A client's side of a conversation with a proxy, sans-IO: a generator that yields `Step`s
(send this, then wait for so many bytes, an HTTP response head, or everything up to the
close), is sent back the bytes each step waited for, raises `HandshakeError`s on answers that
do not mean "go on", and returns what the conversation found.

The handshakes (`tunnels`) and the judge's exchange (`judging`) are conversations; one check
chains them with `yield from`. `link.ProxyLink` drives a conversation in its protocol
callbacks (one future per check, no await per message); `streams.StreamLink` drives the same
over an asyncio stream pair. Both bound sizes here; the caller bounds the time. Imports this
package and the standard library.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple, TypeVar

from proxyfleet.pool.checkers.errors import HandshakeError

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024
HEAD_END = b"\r\n\r\n"

HEAD = -1  # an HTTP response head, without its blank line
TO_CLOSE = -2  # everything until the peer closes

_T = TypeVar("_T")


class Step(NamedTuple):
    """Send `message` (if any), then wait for `size` bytes, or `HEAD`, or `TO_CLOSE`;
    `waiting_for` names what is awaited, for the error that says it never came."""

    message: bytes
    size: int
    waiting_for: str


Conversation = Generator[Step, bytes, _T]


def empty() -> Conversation[None]:
    """A conversation that says nothing: a plain HTTP proxy needs no tunnel."""
    return
    yield  # makes this a generator


def head_too_long(waiting_for: str) -> HandshakeError:
    return HandshakeError(f"{waiting_for}: response head too long")


def too_large(waiting_for: str) -> HandshakeError:
    return HandshakeError(f"{waiting_for}: body larger than {MAX_BODY_BYTES} bytes")


def closed_early(waiting_for: str, partial: bytes | bytearray) -> HandshakeError:
    got = f" after {len(partial)} bytes" if partial else ""
    return HandshakeError(f"connection closed{got} while waiting for {waiting_for}")
