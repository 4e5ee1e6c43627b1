"""The 003 surface's error shape, as the seed documents it:
`{"success": false, "error_code", "message", "errors"}`.

`errors` holds the field errors of a `VALIDATION_ERROR` (field name to message) and, for the
other codes, what the client needs to act on: when a unit frees up (`retry_at`, also sent as
`Retry-After`), Instagram's reason for a refusal, the session's state. A rejected API key
(401 `UNAUTHORIZED`) and a forbidden account (403 `FORBIDDEN`) keep the platform's shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxyfleet.api.pool.envelope import POOL, ErrorOut
from proxyfleet.api.surface import STATUS_BY_KIND, documented, surface_router
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import DomainError

# The seed's four codes with the statuses the issue gives them; the rest follow their kind.
STATUS_BY_CODE: Mapping[str, int] = {"INVALID_SESSION": 401, "RATE_LIMIT_EXCEEDED": 429,
                                     "REQUEST_FAILED": 502, "VALIDATION_ERROR": 422}


# Who the caller is and may do is the platform's, not the seed's: a rejected key (401) or a
# forbidden account (403) answers in the shape every surface uses for it, as seed 004's does.
PLATFORM_CODES = frozenset({"UNAUTHORIZED", "FORBIDDEN"})


class InstagramSurface:
    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> Response:
        if code in PLATFORM_CODES:
            return POOL.render(status, code, message, details)
        errors = _field_errors(details) if "fields" in details else dict(details)
        response = JSONResponse({"success": False, "error_code": code, "message": message,
                                 "errors": errors}, status_code=status)
        retry_after = _retry_after(errors.get("retry_at"))
        if status == 429 and retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def status_for(self, error: DomainError) -> int:
        return STATUS_BY_CODE.get(error.code) or STATUS_BY_KIND[error.kind]


def _field_errors(details: Mapping[str, Any]) -> dict[str, str]:
    """`body.username` → `username`: the seed's clients name fields as they sent them."""
    found: dict[str, str] = {}
    for entry in details.get("fields") or []:
        name = str(entry["field"]).removeprefix("body.").removeprefix("path.") or "body"
        found.setdefault(name, str(entry["message"]))
    return found


def _retry_after(retry_at: object) -> int | None:
    if not isinstance(retry_at, str):
        return None
    try:
        moment = datetime.fromisoformat(retry_at)
    except ValueError:
        return None
    return max(0, math.ceil((moment - utcnow()).total_seconds()))


INSTAGRAM = InstagramSurface()


class InstagramErrorOut(BaseModel):
    """Seed 003's error shape."""

    success: bool
    error_code: str
    message: str
    errors: dict[str, Any]


# What every route of this surface may answer; a forbidden account (403) in the platform's
# shape, and a 401 in either: the platform's for a rejected key, the seed's for
# INVALID_SESSION.
INSTAGRAM_ERRORS = documented(InstagramErrorOut, (401, 403, 422, 429, 502, 503),
                              {401: InstagramErrorOut | ErrorOut, 403: ErrorOut})


def instagram_router(**options: Any) -> APIRouter:
    return surface_router(INSTAGRAM, responses=INSTAGRAM_ERRORS, **options)
