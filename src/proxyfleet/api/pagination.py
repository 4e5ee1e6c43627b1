"""Opaque cursors: a JSON list, base64url-encoded. Bad cursors are the caller's error (422)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from proxyfleet.core.errors import InvalidInput


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("The cursor is not valid.", {"cursor": cursor}) from None
    if not isinstance(position, list):
        raise InvalidInput("The cursor is not valid.", {"cursor": cursor})
    return position


T = TypeVar("T")


class Page(NamedTuple):
    items: list[Any]
    next_cursor: str | None
    total_count: int


def created_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The `[created_at, id]` position a cursor of a created-order list points after."""
    try:
        created_at, item_id = decode_cursor(cursor)
        return datetime.fromisoformat(created_at), uuid.UUID(item_id)
    except (ValueError, TypeError):
        raise InvalidInput("The cursor is not valid.", {"cursor": cursor}) from None


def page_in_created_order(items: Sequence[T], position: Callable[[T], tuple[datetime, uuid.UUID]],
                          limit: int, cursor: str | None) -> Page:
    """One page of a caller's own short list (their keys, their live leases), oldest first,
    in seed 001's shape: the list is read whole, so the page is cut here."""
    ordered = sorted(items, key=position)
    if cursor is not None:
        after = created_position(cursor)
        ordered = [item for item in ordered if position(item) > after]
    page = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        created_at, item_id = position(page[-1])
        next_cursor = encode_cursor([created_at.isoformat(), str(item_id)])
    return Page(page, next_cursor, len(items))
