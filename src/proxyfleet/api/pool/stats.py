"""Stats endpoints of the pool API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.api.pool.health_schemas import SourceStatsItem, SourceStatsOut
from proxyfleet.api.pool.inventory_schemas import PluginsOut, PoolStatsOut
from proxyfleet.bootstrap import Container

router = pool_router(tags=["stats"])
Services = Annotated[Container, Depends(container)]


@router.get("/stats/pool", responses=errors(401, 422), response_model=PoolStatsOut)
async def pool_stats(_: Caller, found: Services) -> PoolStatsOut:
    return PoolStatsOut(**await found.inventory.stats())


@router.get("/stats/plugins", responses=errors(401, 422), response_model=PluginsOut)
async def plugin_stats(_: Caller, found: Services) -> PluginsOut:
    return PluginsOut(parsers=list(found.parsers.describe()),
                      checkers=list(found.checkers.describe()),
                      notifiers=list(await found.notifiers.describe()))


@router.get("/stats/sources", responses=errors(401, 403, 422), response_model=SourceStatsOut)
async def source_stats(_: Admin, found: Services) -> SourceStatsOut:
    """Health of every source (admins only, as the sources are)."""
    items = [SourceStatsItem.of_source(h) for h in await found.sources.health_all()]
    return SourceStatsOut(
        sources_total=len(items), sources_active=sum(i.is_active for i in items),
        sources_failing=sum(i.consecutive_failures > 0 for i in items),
        sources_paused_by_themselves=sum(i.paused_by_itself for i in items), items=items)
