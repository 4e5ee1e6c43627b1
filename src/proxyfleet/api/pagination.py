"""Opaque cursors: a JSON list, base64url-encoded. Bad cursors are the caller's error (422)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

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
