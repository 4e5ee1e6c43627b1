"""Opaque, tamper-evident cursors: a JSON list, base64url-encoded, and a MAC keyed by the
secret key (through the secret box's keyed digest). A cursor the server did not write, or
wrote and someone changed, is the caller's error (422), never a 500; so is a cursor that
carries a value of the wrong type."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import Depends, Request

from proxyfleet.api.auth import container_of
from proxyfleet.core.errors import InvalidInput
from proxyfleet.storage.sealing import SecretBox

# 128 bits of HMAC-SHA256 in hex: enough that a forged cursor is never guessed.
_MAC_HEX = 32
_PURPOSE = "cursor:"


def invalid_cursor(cursor: str) -> InvalidInput:
    return InvalidInput("The cursor is not valid.", {"cursor": cursor[:100]})


class CursorCodec:
    """Writes and reads the cursors of every paginated route."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def _mac(self, payload: str) -> str:
        return self._box.digest(_PURPOSE + payload)[:_MAC_HEX]

    def encode(self, position: list[Any]) -> str:
        raw = json.dumps(position, separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{payload}.{self._mac(payload)}"

    def decode(self, cursor: str) -> list[Any]:
        if not cursor.isascii():  # cursors are written in base64url and hex only
            raise invalid_cursor(cursor)
        payload, _, mac = cursor.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise invalid_cursor(cursor)
        try:
            position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid_cursor(cursor) from None
        if not isinstance(position, list):
            raise invalid_cursor(cursor)
        return position


async def cursor_codec(request: Request) -> CursorCodec:
    return CursorCodec(container_of(request).database.box)


Cursors = Annotated[CursorCodec, Depends(cursor_codec)]


def created_position(cursors: CursorCodec, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) position of a list ordered by creation."""
    try:
        created_at, row_id = cursors.decode(cursor)
        after = datetime.fromisoformat(created_at)
        if after.tzinfo is None:
            raise ValueError("a position without a zone")
        return after, uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError):
        raise invalid_cursor(cursor) from None


def created_cursor(cursors: CursorCodec, created_at: datetime, row_id: uuid.UUID) -> str:
    return cursors.encode([created_at.isoformat(), str(row_id)])


T = TypeVar("T")


class Page(NamedTuple):
    items: list[Any]
    next_cursor: str | None
    total_count: int


def page_in_created_order(cursors: CursorCodec, items: Sequence[T],
                          position: Callable[[T], tuple[datetime, uuid.UUID]],
                          limit: int, cursor: str | None) -> Page:
    """One page of a caller's own short list (their keys, their live leases), oldest first,
    in seed 001's shape: the list is read whole, so the page is cut here."""
    ordered = sorted(items, key=position)
    if cursor is not None:
        after = created_position(cursors, cursor)
        ordered = [item for item in ordered if position(item) > after]
    page = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        created_at, item_id = position(page[-1])
        next_cursor = created_cursor(cursors, created_at, item_id)
    return Page(page, next_cursor, len(items))
