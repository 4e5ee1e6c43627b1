"""GET /judge (no auth): what the caller looks like from here — its address and headers,
httpbin-style. The checkers ask it through each proxy."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.pool.judge import judge_report

router = pool_router(tags=["system"])


@router.get("/judge", responses=errors(422))
async def judge(request: Request) -> dict[str, Any]:
    peer = request.client.host if request.client else ""
    return dict(judge_report(peer, request.headers.items()))
