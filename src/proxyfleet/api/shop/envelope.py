"""The shop surface's error shape. The seed's backend is a FastAPI app, so errors look as
FastAPI's own do: `{"detail": "message"}`, and for 422 a list of field errors
(`{"detail": [{"type", "loc", "msg"}]}`). Rule failures of a request that is well formed
(a refund out of its window, a product that is offline) are 400, as FastAPI apps raise
`HTTPException(400)`. Money in a reply is written as the seed shows it (`2.00`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxyfleet.api.surface import STATUS_BY_KIND, documented, surface_router
from proxyfleet.core.errors import DomainError, ErrorKind

_MONEY = "\u2063money:"
_MONEY_STRING = re.compile(r'"\\u2063money:(-?\d+\.\d\d)"')


def _money(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MONEY}{value:.2f}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class MoneyJSONResponse(JSONResponse):
    """JSON where Decimal amounts are numbers with two decimals (`"price": 2.00`)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, default=_money, separators=(",", ":"))
        return _MONEY_STRING.sub(r"\1", text).encode()


def _loc(field: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in field.split(".") if part]


class ShopSurface:
    def render(self, status: int, code: str, message: str,
               details: Mapping[str, Any]) -> Response:
        fields = details.get("fields") if status == 422 else None
        if fields:
            detail: Any = [{"type": f["type"], "loc": _loc(f["field"]), "msg": f["message"]}
                           for f in fields]
            return JSONResponse({"detail": detail}, status_code=status)
        return JSONResponse({"detail": message}, status_code=status)

    def status_for(self, error: DomainError) -> int:
        return 400 if error.kind is ErrorKind.INVALID else STATUS_BY_KIND[error.kind]


SHOP = ShopSurface()


class DetailOut(BaseModel):
    """FastAPI's error shape: a message, or for 422 a list of field errors."""

    detail: str | list[dict[str, Any]]


# What every route of this surface may answer.
SHOP_ERRORS = documented(DetailOut, (400, 401, 402, 403, 404, 409, 422, 502))


def shop_router(**options: Any) -> APIRouter:
    return surface_router(SHOP, responses=SHOP_ERRORS, **options)
