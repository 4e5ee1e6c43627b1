"""Request and response models of the pool API's sources, proxies, leases and stats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AnyHttpUrl, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from proxyfleet.api.request_models import RequestModel
from proxyfleet.core.leases import Lease
from proxyfleet.core.proxies import (
    Anonymity,
    Proxy,
    ProxyCheck,
    ProxyProtocol,
    ProxyStatus,
    ScrapeResult,
    Source,
)

CountryCode = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")


Strict = RequestModel


class SourceIn(Strict):
    url: AnyHttpUrl
    parser_name: str | None = Field(None, min_length=1, max_length=64)
    cron_schedule: str = Field("*/30 * * * *", min_length=9, max_length=120)
    default_protocol: ProxyProtocol = ProxyProtocol.HTTP
    is_active: bool = True


class SourcePatch(Strict):
    """Every field may be left out (it keeps its value); none may be null, and the schema
    says so (SkipJsonSchema keeps the None default out of it)."""

    url: AnyHttpUrl | SkipJsonSchema[None] = None
    parser_name: Annotated[str, Field(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    cron_schedule: (Annotated[str, Field(min_length=9, max_length=120)]
                    | SkipJsonSchema[None]) = None
    default_protocol: ProxyProtocol | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None


class SourceOut(BaseModel):
    id: uuid.UUID
    url: str
    parser_name: str
    cron_schedule: str
    default_protocol: ProxyProtocol
    is_active: bool
    last_scraped_at: datetime | None
    next_run_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    created_at: datetime

    @classmethod
    def of(cls, source: Source, *, reveal: bool = True) -> SourceOut:
        """`reveal` False (a non-admin reads it): credentials and query values in the URL
        are hidden."""
        return cls(id=source.id, url=source.url if reveal else hide_secrets(source.url),
                   parser_name=source.parser_name,
                   cron_schedule=source.cron_schedule, default_protocol=source.default_protocol,
                   is_active=source.is_active, last_scraped_at=source.last_scraped_at,
                   next_run_at=source.next_run_at, last_error=source.last_error,
                   consecutive_failures=source.consecutive_failures,
                   created_at=source.created_at)


class SourceCreatedOut(SourceOut):
    scrape_queued: bool = Field(description="True when the new source (active) is being "
                                            "scraped now, in the background; its proxies "
                                            "then appear in GET /proxies as they are checked.")


def hide_secrets(url: str) -> str:
    """The URL with its user and password and every query value replaced by `***`: list
    URLs often carry a token."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urlencode([(name, "***") for name, _ in parse_qsl(parts.query,
                                                              keep_blank_values=True)],
                      safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_cursor: str | None
    total_count: int


class ScrapeOut(BaseModel):
    source_id: uuid.UUID
    proxies_discovered: int
    proxies_new: int
    proxies_updated: int
    duration_ms: int

    @classmethod
    def of(cls, result: ScrapeResult) -> ScrapeOut:
        return cls(source_id=result.source_id, proxies_discovered=result.counts.discovered,
                   proxies_new=result.counts.new, proxies_updated=result.counts.updated,
                   duration_ms=result.duration_ms)


class ProxyIn(Strict):
    """A proxy added by hand: a line in any form the plaintext parser reads, or fields."""

    ip: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    protocol: ProxyProtocol = ProxyProtocol.HTTP
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=255)


class ProxyBatchIn(Strict):
    proxies: list[ProxyIn] = Field(min_length=1, max_length=10_000)


class ImportOut(BaseModel):
    proxies_discovered: int
    proxies_new: int
    proxies_updated: int


class ProxyOut(BaseModel):
    id: uuid.UUID
    ip: str
    port: int
    protocol: ProxyProtocol
    status: ProxyStatus
    anonymity: Anonymity | None
    exit_ip: str | None
    country: str | None
    score: float
    avg_latency_ms: float | None
    uptime_pct: float | None
    last_checked_at: datetime | None
    first_seen_at: datetime
    tags: dict[str, Any]
    username: str | None = Field(None, description="Shown to admins only.")
    password: str | None = Field(None, description="Shown to admins only.")

    @classmethod
    def of(cls, proxy: Proxy, *, with_credentials: bool = False) -> ProxyOut:
        address = proxy.address
        return cls(id=proxy.id, ip=address.host, port=address.port, protocol=address.protocol,
                   status=proxy.status, anonymity=proxy.anonymity, exit_ip=proxy.exit_ip,
                   country=proxy.country, score=round(proxy.score, 4),
                   avg_latency_ms=proxy.avg_latency_ms, uptime_pct=proxy.uptime_pct,
                   last_checked_at=proxy.last_checked_at, first_seen_at=proxy.first_seen_at,
                   tags=proxy.tags,
                   username=address.username if with_credentials else None,
                   password=address.password if with_credentials else None)


class ProxyPageOut(BaseModel):
    items: list[ProxyOut]
    next_cursor: str | None
    total_count: int


class CheckOut(BaseModel):
    checker_name: str
    stage: int
    passed: bool
    latency_ms: float | None
    detail: str
    created_at: datetime

    @classmethod
    def of(cls, check: ProxyCheck) -> CheckOut:
        return cls(checker_name=check.checker_name, stage=check.stage, passed=check.passed,
                   latency_ms=check.latency_ms, detail=check.detail, created_at=check.created_at)


class ProxyDetailOut(BaseModel):
    proxy: ProxyOut
    recent_checks: list[CheckOut]


class AcquireIn(Strict):
    protocol: ProxyProtocol | None = None
    country: str | None = CountryCode
    anonymity: Anonymity | None = None
    min_score: float | None = Field(None, ge=0.0, le=1.0)
    lease_duration_seconds: int = Field(300, ge=1, le=3600)


class LeasedProxyOut(BaseModel):
    ip: str
    port: int
    protocol: ProxyProtocol
    country: str | None
    anonymity: Anonymity | None
    username: str | None
    password: str | None


class LeaseOut(BaseModel):
    lease_id: uuid.UUID
    proxy: LeasedProxyOut
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, lease: Lease) -> LeaseOut:
        address = lease.proxy.address
        return cls(lease_id=lease.id, created_at=lease.created_at, expires_at=lease.expires_at,
                   proxy=LeasedProxyOut(ip=address.host, port=address.port,
                                        protocol=address.protocol, country=lease.proxy.country,
                                        anonymity=lease.proxy.anonymity,
                                        username=address.username, password=address.password))


class AcquireOut(LeaseOut):
    credits_remaining: int


class ReleaseOut(BaseModel):
    lease_id: uuid.UUID
    status: str
    released_at: datetime


class LeaseListOut(BaseModel):
    items: list[LeaseOut]
    next_cursor: str | None
    total_count: int


class PoolStatsOut(BaseModel):
    total_proxies: int
    by_status: dict[str, int]
    by_protocol: dict[str, int]
    by_anonymity: dict[str, int]
    avg_score: float | None
    avg_latency_ms: float | None
    sources_active: int
    sources_total: int
    last_scrape_at: datetime | None
    last_validation_at: datetime | None


class PluginsOut(BaseModel):
    parsers: list[dict[str, Any]]
    checkers: list[dict[str, Any]]
    notifiers: list[dict[str, Any]]


class ReachIn(Strict):
    url: AnyHttpUrl
    count: int = Field(5, ge=1, le=50)
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    protocol: ProxyProtocol | None = None
    country: str | None = CountryCode


class ReachResultOut(BaseModel):
    proxy_id: uuid.UUID
    ip: str
    port: int
    reachable: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


class ReachOut(BaseModel):
    url: str
    results: list[ReachResultOut]
    success_rate: float
