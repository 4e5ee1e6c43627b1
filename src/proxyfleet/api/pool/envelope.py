"""The pool API's error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxyfleet.api.surface import STATUS_BY_KIND, documented, surface_router
from proxyfleet.core.errors import DomainError


class PoolSurface:
    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": code, "message": message, "details": dict(details)}},
            status_code=status)

    def status_for(self, error: DomainError) -> int:
        return STATUS_BY_KIND[error.kind]


POOL = PoolSurface()


def pool_router(**options: Any) -> APIRouter:
    return surface_router(POOL, **options)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """The pool API's error envelope."""

    error: ErrorBody


def errors(*statuses: int) -> dict[int | str, Any]:
    """`responses=` for a pool route that answers these error statuses."""
    return documented(ErrorOut, statuses)


# What every route behind an API key may answer.
KEYED = (401, 422)
