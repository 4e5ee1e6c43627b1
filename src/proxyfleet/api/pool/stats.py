"""Stats endpoints of the pool API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from proxyfleet.api.auth import Caller, container
from proxyfleet.api.pool.envelope import pool_router
from proxyfleet.api.pool.inventory_schemas import PluginsOut, PoolStatsOut
from proxyfleet.bootstrap import Container

router = pool_router(tags=["stats"])
Services = Annotated[Container, Depends(container)]


@router.get("/stats/pool", response_model=PoolStatsOut)
async def pool_stats(_: Caller, found: Services) -> PoolStatsOut:
    return PoolStatsOut(**await found.inventory.stats())


@router.get("/stats/plugins", response_model=PluginsOut)
async def plugin_stats(_: Caller, found: Services) -> PluginsOut:
    return PluginsOut(parsers=list(found.parsers.describe()),
                      checkers=list(found.checkers.describe()),
                      notifiers=list(await found.notifiers.describe()))
