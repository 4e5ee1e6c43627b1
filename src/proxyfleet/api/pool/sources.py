"""Sources endpoints of the pool API: any key reads them (credentials and tokens in their
URLs hidden from non-admins); only admins change them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.pagination import Cursors, created_cursor, created_position
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.api.pool.health_schemas import SourceDetailOut
from proxyfleet.api.pool.inventory_schemas import (
    ScrapeOut,
    SourceCreatedOut,
    SourceIn,
    SourceOut,
    SourcePage,
    SourcePatch,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import InvalidInput

router = pool_router(tags=["sources"])
Services = Annotated[Container, Depends(container)]


@router.get("/sources", responses=errors(401, 422), response_model=SourcePage)
async def list_sources(caller: Caller, found: Services, cursors: Cursors,
                       is_active: bool | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       cursor: Annotated[str | None, Query(max_length=500)] = None) -> SourcePage:
    after = created_position(cursors, cursor) if cursor else None
    items, total = await found.sources.page(is_active, limit, after)
    next_cursor = None
    if len(items) == limit:
        next_cursor = created_cursor(cursors, items[-1].created_at, items[-1].id)
    return SourcePage(items=[SourceOut.of(s, reveal=caller.is_admin) for s in items],
                      next_cursor=next_cursor, total_count=total)


@router.post("/sources", responses=errors(401, 403, 409, 422, 502),
             status_code=201, response_model=SourceCreatedOut)
async def add_source(body: SourceIn, _: Admin, found: Services) -> SourceCreatedOut:
    """Add a source; an active one is scraped at once, in the background (`scrape_queued`),
    then on its `cron_schedule`. 409 SOURCE_EXISTS for a URL already added; 502
    UPSTREAM_FAILED when the list cannot be fetched to detect its format."""
    source = await found.sources.create(str(body.url), body.parser_name, body.cron_schedule,
                                        body.default_protocol, body.is_active)
    if source.is_active:
        await found.queue.enqueue_scrape(source.id)
    return SourceCreatedOut(**SourceOut.of(source).model_dump(),
                            scrape_queued=source.is_active)


@router.get("/sources/{source_id}", responses=errors(401, 404, 422),
            response_model=SourceDetailOut)
async def get_source(source_id: uuid.UUID, caller: Caller, found: Services) -> SourceDetailOut:
    return SourceDetailOut.of_health(await found.sources.health(source_id),
                                     reveal=caller.is_admin)


@router.patch("/sources/{source_id}", responses=errors(401, 403, 404, 422, 502),
              response_model=SourceOut)
async def change_source(source_id: uuid.UUID, body: SourcePatch, _: Admin,
                        found: Services) -> SourceOut:
    changes = body.model_dump(exclude_unset=True)
    for field in ("parser_name", "cron_schedule", "default_protocol", "is_active", "url"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null.", {"fields": [
                {"field": f"body.{field}", "message": "may not be null", "type": "null"}]})
    if "url" in changes:
        changes["url"] = str(changes["url"])
    return SourceOut.of(await found.sources.change(source_id, changes))


@router.delete("/sources/{source_id}", responses=errors(401, 403, 404, 422), status_code=204)
async def delete_source(source_id: uuid.UUID, _: Admin, found: Services) -> Response:
    await found.sources.delete(source_id)
    return Response(status_code=204)


@router.post("/sources/{source_id}/scrape", responses=errors(401, 403, 404, 422, 502),
             response_model=ScrapeOut)
async def scrape_source(source_id: uuid.UUID, _: Admin, found: Services) -> ScrapeOut:
    return ScrapeOut.of(await found.sources.scrape(source_id))
