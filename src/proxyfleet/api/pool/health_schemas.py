"""Source health in the pool API: `GET /sources/{id}` carries it under `health`, and
`GET /stats/sources` lists it for every source."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from proxyfleet.api.pool.inventory_schemas import SourceOut
from proxyfleet.core.proxies import SourceHealth


class SourceHealthOut(BaseModel):
    found_last_run: int | None = Field(description="Proxies the last successful run listed.")
    new_last_run: int | None = Field(description="Of those, proxies seen for the first time.")
    proxies_total: int = Field(description="Proxies this source brought into the pool.")
    proxies_active: int
    alive_share: float | None = Field(description="proxies_active / proxies_total.")
    consecutive_failures: int
    last_error: str | None
    last_error_at: datetime | None
    paused_by_itself: bool = Field(description="Paused after failing too many runs in a "
                                                "row; PATCH is_active true to resume.")
    paused_at: datetime | None

    @classmethod
    def of(cls, health: SourceHealth) -> SourceHealthOut:
        source = health.source
        share = health.alive_share
        return cls(found_last_run=health.found_last_run, new_last_run=health.new_last_run,
                   proxies_total=health.proxies_total, proxies_active=health.proxies_active,
                   alive_share=None if share is None else round(share, 4),
                   consecutive_failures=source.consecutive_failures,
                   last_error=source.last_error, last_error_at=source.last_error_at,
                   paused_by_itself=health.paused_by_itself, paused_at=source.paused_at)


class SourceDetailOut(SourceOut):
    health: SourceHealthOut

    @classmethod
    def of_health(cls, health: SourceHealth, *, reveal: bool = True) -> SourceDetailOut:
        return cls(**SourceOut.of(health.source, reveal=reveal).model_dump(),
                   health=SourceHealthOut.of(health))


class SourceStatsItem(SourceHealthOut):
    source_id: uuid.UUID
    url: str
    is_active: bool
    last_scraped_at: datetime | None

    @classmethod
    def of_source(cls, health: SourceHealth) -> SourceStatsItem:
        source = health.source
        return cls(source_id=source.id, url=source.url, is_active=source.is_active,
                   last_scraped_at=source.last_scraped_at,
                   **SourceHealthOut.of(health).model_dump())


class SourceStatsOut(BaseModel):
    sources_total: int
    sources_active: int
    sources_failing: int = Field(description="Sources whose last run failed.")
    sources_paused_by_themselves: int
    items: list[SourceStatsItem]
