"""Proxies endpoints of the pool API: query, detail, add by hand, acquire and release."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.pagination import decode_cursor, encode_cursor
from proxyfleet.api.pool.envelope import pool_router
from proxyfleet.api.pool.inventory_schemas import (
    AcquireIn,
    AcquireOut,
    CheckOut,
    ImportOut,
    LeaseListOut,
    LeaseOut,
    ProxyBatchIn,
    ProxyDetailOut,
    ProxyOut,
    ProxyPageOut,
    ReachIn,
    ReachOut,
    ReachResultOut,
    ReleaseOut,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import InvalidInput
from proxyfleet.core.proxies import (
    Anonymity,
    ProxyAddress,
    ProxyFilter,
    ProxyOrigin,
    ProxyProtocol,
    ProxyStatus,
    SortField,
)
from proxyfleet.pool.parsers.address import make_address

router = pool_router()
Services = Annotated[Container, Depends(container)]



def _position(cursor: str, sort: SortField,
              descending: bool) -> tuple[tuple[Any, uuid.UUID], int]:
    """The keyset position a cursor points after, and the total counted for its first page."""
    position = decode_cursor(cursor)
    try:
        kind, direction, value, proxy_id, total = position
        if not isinstance(total, int) or total < 0:
            raise ValueError("bad total")
        if kind != sort.value or direction != ("desc" if descending else "asc"):
            raise ValueError("cursor from another ordering")
        if sort is SortField.LAST_CHECKED:
            value = datetime.fromisoformat(value)
        elif not isinstance(value, int | float):
            raise ValueError("bad value")
        return (value, uuid.UUID(proxy_id)), total
    except (ValueError, TypeError):
        raise InvalidInput("The cursor is not valid for this query.", {"cursor": cursor}) from None


def _cursor(sort: SortField, descending: bool, after: tuple[Any, uuid.UUID], total: int) -> str:
    value, proxy_id = after
    if isinstance(value, datetime):
        value = value.isoformat()
    return encode_cursor([sort.value, "desc" if descending else "asc", value, str(proxy_id),
                          total])


@router.get("/proxies", response_model=ProxyPageOut, tags=["proxies"])
async def query_proxies(
    caller: Caller, found: Services,
    status: ProxyStatus | None = None,
    protocol: ProxyProtocol | None = None,
    anonymity: Anonymity | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_latency_ms: Annotated[float | None, Query(ge=0.0)] = None,
    min_uptime_pct: Annotated[float | None, Query(ge=0.0, le=100.0)] = None,
    verified_within_minutes: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
    sort: SortField = SortField.SCORE,
    order: Annotated[str | None, Query(pattern="^(asc|desc)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ProxyPageOut:
    descending = sort.default_descending if order is None else order == "desc"
    inventory = found.inventory
    wanted = ProxyFilter(
        status=status, protocol=protocol, anonymity=anonymity,
        country=country.upper() if country else None, min_score=min_score,
        max_latency_ms=max_latency_ms, min_uptime_pct=min_uptime_pct,
        verified_since=(inventory.verified_since(verified_within_minutes)
                        if verified_within_minutes else None),
        # Private proxies (seed 000's account farm) are shown to admins only.
        shared=None if caller.is_admin else True)
    after, total = _position(cursor, sort, descending) if cursor else (None, None)
    page = await inventory.query(wanted, sort, descending, limit, after, total)
    next_cursor = None
    if page.next_after is not None:
        next_cursor = _cursor(sort, descending, page.next_after, page.total_count)
    return ProxyPageOut(
        items=[ProxyOut.of(p, with_credentials=caller.is_admin) for p in page.items],
        next_cursor=next_cursor, total_count=page.total_count)


@router.post("/proxies", status_code=201, response_model=ImportOut, tags=["proxies"])
async def add_proxies(body: ProxyBatchIn, _: Admin, found: Services) -> ImportOut:
    addresses: list[ProxyAddress] = []
    for index, item in enumerate(body.proxies):
        address = make_address(item.ip, item.port, item.protocol, item.username, item.password)
        if address is None:
            raise InvalidInput("Not a valid proxy address.", {"fields": [
                {"field": f"body.proxies.{index}.ip", "message": "not an IP address or host name",
                 "type": "value_error"}]})
        addresses.append(address)
    counts = await found.inventory.add(addresses, ProxyOrigin.MANUAL)
    return ImportOut(proxies_discovered=counts.discovered, proxies_new=counts.new,
                     proxies_updated=counts.updated)


@router.post("/proxies/test", response_model=ReachOut, tags=["proxies"])
async def reachability(body: ReachIn, caller: Caller, found: Services) -> ReachOut:
    wanted = ProxyFilter(protocol=body.protocol,
                         country=body.country.upper() if body.country else None,
                         shared=None if caller.is_admin else True)
    tried = await found.checking.reachability(str(body.url), wanted, body.count,
                                              body.timeout_seconds)
    results = [ReachResultOut(proxy_id=proxy.id, ip=proxy.address.host, port=proxy.address.port,
                              reachable=outcome.reachable, status_code=outcome.status_code,
                              latency_ms=outcome.latency_ms, error=outcome.error)
               for proxy, outcome in tried]
    reached = sum(1 for r in results if r.reachable)
    return ReachOut(url=str(body.url), results=results,
                    success_rate=round(reached / len(results), 4))


@router.get("/proxies/{proxy_id}", response_model=ProxyDetailOut, tags=["proxies"])
async def proxy_detail(proxy_id: uuid.UUID, caller: Caller, found: Services) -> ProxyDetailOut:
    detail = await found.inventory.detail(proxy_id)
    return ProxyDetailOut(proxy=ProxyOut.of(detail.proxy, with_credentials=caller.is_admin),
                          recent_checks=[CheckOut.of(c) for c in detail.recent_checks])


@router.post("/proxies/acquire", response_model=AcquireOut, tags=["leases"])
async def acquire(caller: Caller, found: Services, body: AcquireIn | None = None) -> AcquireOut:
    body = body or AcquireIn()
    wanted = ProxyFilter(protocol=body.protocol, anonymity=body.anonymity,
                         country=body.country.upper() if body.country else None,
                         min_score=body.min_score)
    grant = await found.leasing.acquire(caller.user.id, wanted, body.lease_duration_seconds)
    lease = LeaseOut.of(grant.lease)
    return AcquireOut(**lease.model_dump(), credits_remaining=grant.credits_remaining)


@router.post("/proxies/acquire/{lease_id}/release", response_model=ReleaseOut, tags=["leases"])
async def release(lease_id: uuid.UUID, caller: Caller, found: Services) -> ReleaseOut:
    released_at = await found.leasing.release(caller.user.id, lease_id)
    return ReleaseOut(lease_id=lease_id, status="released", released_at=released_at)


@router.get("/account/leases", response_model=LeaseListOut, tags=["leases"])
async def my_leases(caller: Caller, found: Services) -> LeaseListOut:
    return LeaseListOut(items=[LeaseOut.of(lease)
                               for lease in await found.leasing.live(caller.user.id)])
