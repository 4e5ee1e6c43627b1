"""System endpoints: health."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import JSONResponse

from proxyfleet import __version__
from proxyfleet.api.auth import container
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.api.pool.schemas import HealthOut
from proxyfleet.bootstrap import Container

router = pool_router()


@router.get("/health", response_model=HealthOut, tags=["system"],
            responses={503: {"model": HealthOut,
                             "description": "The database or a configured Redis does not answer."},
                       **errors(422)})
async def health(found: Annotated[Container, Depends(container)]) -> JSONResponse:
    deps = await found.dependencies()
    backend = found.database.backend
    body = HealthOut(
        status="healthy" if deps.healthy else "unhealthy",
        database=backend,
        postgres=deps.database if backend == "postgresql" else "not_used",
        sqlite=deps.database if backend == "sqlite" else "not_used",
        redis=deps.redis,
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if deps.healthy else 503)
