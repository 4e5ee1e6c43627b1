"""Seed 000's error shape: a flat `{"error": type, "message", "details"}` with six types:
validation_error (422, the bad fields named in `details`), invalid_request (400: a body that
is not JSON, not an object, or not sent as JSON), duplicate_proxy and duplicate_session
(409), not_found (404), database_error (503: the database unreachable or failing). A caller
who is not an admin gets 403 in this shape (`forbidden`); a missing or rejected key gets the
401 every surface answers alike (the platform's shape), so a client handles it one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxyfleet.api.pool.envelope import POOL, ErrorOut
from proxyfleet.api.surface import STATUS_BY_KIND, documented, surface_router
from proxyfleet.core.errors import DomainError, Unavailable
from proxyfleet.storage.database import is_database_failure

log = structlog.get_logger(__name__)

TYPE_BY_CODE: Mapping[str, str] = {
    "DUPLICATE_PROXY": "duplicate_proxy",
    "DUPLICATE_SESSION": "duplicate_session",
    "DATABASE_ERROR": "database_error",
    "INVALID_REQUEST": "invalid_request",
}
TYPE_BY_STATUS: Mapping[int, str] = {
    400: "invalid_request", 403: "forbidden", 404: "not_found",
    405: "invalid_request", 409: "conflict", 413: "invalid_request", 415: "invalid_request",
    422: "validation_error", 503: "database_error",
}
# Validation failures of the body as a whole (not JSON, not an object, none) are malformed
# requests, not bad fields.
_WHOLE_BODY = "body"


class DatabaseFailure(Unavailable):
    code = "DATABASE_ERROR"


class ManagerSurface:
    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> JSONResponse:
        if status == 401:
            return POOL.render(status, code, message, details)
        fields = details.get("fields")
        if status == 422 and isinstance(fields, list):
            return self._validation(fields)
        kind = TYPE_BY_CODE.get(code) or TYPE_BY_STATUS.get(status, "invalid_request")
        return JSONResponse({"error": kind, "message": message, "details": dict(details)},
                            status_code=status)

    def _validation(self, fields: list[dict[str, str]]) -> JSONResponse:
        if any(f["field"] == _WHOLE_BODY or f["type"] == "json_invalid" for f in fields):
            return JSONResponse({"error": "invalid_request",
                                 "message": "The body must be a JSON object.",
                                 "details": {"reason": fields[0]["message"]}},
                                status_code=400)
        named = {_field_name(f["field"]): f["message"] for f in fields}
        return JSONResponse({"error": "validation_error",
                             "message": "Missing or invalid fields: " + ", ".join(named),
                             "details": {"fields": named}}, status_code=422)

    def status_for(self, error: DomainError) -> int:
        return STATUS_BY_KIND[error.kind]


def _field_name(location: str) -> str:
    for prefix in ("body.", "query.", "path."):
        if location.startswith(prefix):
            return location.removeprefix(prefix)
    return location


def database_failure(error: Exception) -> DomainError | None:
    if not is_database_failure(error):
        return None
    log.warning("database failure", error=repr(error))
    return DatabaseFailure("The database is unavailable; try again shortly.",
                           {"reason": type(error).__name__})


MANAGER = ManagerSurface()


class ManagerErrorOut(BaseModel):
    """Seed 000's error shape."""

    error: str
    message: str
    details: dict[str, Any]


# What every route of this surface may answer; 401 in the platform's shape.
MANAGER_ERRORS = documented(ManagerErrorOut, (400, 401, 403, 404, 409, 422, 503),
                            {401: ErrorOut})


def manager_router(**options: Any) -> APIRouter:
    return surface_router(MANAGER, database_failure, responses=MANAGER_ERRORS, **options)
