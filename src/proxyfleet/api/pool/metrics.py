"""GET /metrics: Prometheus' text format, for an admin API key or the metrics token; never
open without one."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from proxyfleet.api.auth import bearer_token, container
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import Forbidden
from proxyfleet.metrics import CONTENT_TYPE

router = pool_router(tags=["system"], responses=errors(401, 403, 422))
Services = Annotated[Container, Depends(container)]


async def metrics_reader(request: Request, found: Services) -> None:
    token = await bearer_token(request)
    configured = found.settings.metrics_token
    if configured is not None and hmac.compare_digest(
            token.encode(), configured.get_secret_value().encode()):
        return
    principal = await found.accounts.authenticate(token)
    if not principal.is_admin:
        raise Forbidden("GET /metrics is for admins and the metrics token.")


@router.get("/metrics", response_class=Response,
            dependencies=[Depends(metrics_reader)],
            responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(found: Services) -> Response:
    return Response(await found.metrics_exposition(), media_type=CONTENT_TYPE)
