"""Streaming over a JSON proxy list: its entries one at a time, never the whole document.

The stdlib has no streaming JSON reader, so this walks the outer structure by hand and decodes
one entry at a time with `JSONDecoder.raw_decode`. A list is either a top-level array or an
object that wraps the array under a key such as `data` or `proxies` (possibly nested).
Malformed JSON raises `ValueError` where it is met. Imports only the standard library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator

WRAPPER_KEYS = frozenset({"data", "proxies", "items", "results", "list"})

_decoder = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")

Entries = Generator[object, None, int]


def _skip_space(content: str, pos: int) -> int:
    match = _SPACE.match(content, pos)
    return pos if match is None else match.end()


def _expect(content: str, pos: int, token: str) -> int:
    pos = _skip_space(content, pos)
    if not content.startswith(token, pos):
        raise ValueError(f"expected {token!r} at {pos}")
    return _skip_space(content, pos + 1)


def _decode(content: str, pos: int) -> tuple[object, int]:
    value, end = _decoder.raw_decode(content, pos)
    return value, end


def _array(content: str, pos: int) -> Entries:
    """The elements of the array at `pos`; returns the position after it."""
    pos = _expect(content, pos, "[")
    if content.startswith("]", pos):
        return pos + 1
    while True:
        entry, pos = _decode(content, pos)
        yield entry
        pos = _skip_space(content, pos)
        if content.startswith("]", pos):
            return pos + 1
        pos = _expect(content, pos, ",")


def _member(content: str, pos: int, key: object) -> Entries:
    """A member's value: entries when it wraps the list, otherwise decoded and dropped."""
    wraps = isinstance(key, str) and key.lower() in WRAPPER_KEYS
    if wraps and content.startswith("[", pos):
        return (yield from _array(content, pos))
    if wraps and content.startswith("{", pos):
        return (yield from _object(content, pos))
    return _decode(content, pos)[1]


def _object(content: str, pos: int) -> Entries:
    """The entries of every wrapped list in the object at `pos`."""
    pos = _expect(content, pos, "{")
    if content.startswith("}", pos):
        return pos + 1
    while True:
        key, pos = _decode(content, pos)
        if not isinstance(key, str):
            raise ValueError(f"object key expected at {pos}")
        pos = yield from _member(content, _expect(content, pos, ":"), key)
        pos = _skip_space(content, pos)
        if content.startswith("}", pos):
            return pos + 1
        pos = _expect(content, pos, ",")


def iter_entries(content: str) -> Generator[object, None, None]:
    """Each entry of the document's proxy list; `ValueError` when the JSON is malformed."""
    pos = _skip_space(content, 1 if content.startswith("\ufeff") else 0)
    outer = _array if content.startswith("[", pos) else _object
    end = yield from outer(content, pos)
    if _skip_space(content, end) != len(content):
        raise ValueError(f"trailing data at {end}")
