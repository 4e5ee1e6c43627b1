"""The 004 surface's error shape: `{"error": "message", "code": …}`, as the seed's Flask API
answered, with 400 for bad input (Flask's status, not 422), on every answer of its routes:
401 and 403 (authentication is proxyfleet's addition) too, so a 004 client reads one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxyfleet.api.surface import STATUS_BY_KIND, documented, surface_router
from proxyfleet.core.errors import DomainError, ErrorKind


class Ipv6Surface:
    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> Response:
        if status == 422:  # validation failures: Flask answered them 400
            status, message = 400, _first_field_error(message, details)
        return JSONResponse({"error": message, "code": code, **_extra(details)},
                            status_code=status)

    def status_for(self, error: DomainError) -> int:
        return 400 if error.kind is ErrorKind.INVALID else STATUS_BY_KIND[error.kind]


def _first_field_error(message: str, details: Mapping[str, Any]) -> str:
    fields = details.get("fields") or []
    if not fields:
        return message
    first = fields[0]
    return f"{first['field'].removeprefix('body.')}: {first['message']}"


def _extra(details: Mapping[str, Any]) -> dict[str, Any]:
    return {"details": dict(details)} if details else {}


IPV6 = Ipv6Surface()


def ipv6_router(**options: Any) -> APIRouter:
    return surface_router(IPV6, **options)


class Ipv6ErrorOut(BaseModel):
    """Seed 004's error shape."""

    error: str
    code: str
    details: dict[str, Any] | None = None


def ipv6_errors(*statuses: int) -> dict[int | str, Any]:
    """`responses=` for a 004 route: every error in 004's shape, 401 and 403 too.
    Validation failures are 400 here, never 422: the "4XX" entry keeps FastAPI from
    documenting a 422 this surface does not give."""
    listed = documented(Ipv6ErrorOut, statuses, {})
    return listed | {"4XX": {"model": Ipv6ErrorOut,
                             "description": "Any other client error, in seed 004's shape."}}
