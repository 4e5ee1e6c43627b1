"""Proxies endpoints of the pool API: query, detail, add by hand, acquire and release."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.pagination import CursorCodec, Cursors, page_in_created_order
from proxyfleet.api.pool.envelope import errors, pool_router
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



# The largest total a cursor may carry, and the sort values' bounds: a cursor is signed, so
# these only guard against our own mistakes, never let a value reach SQL it cannot bind.
_MAX_TOTAL = 2**53


def _position(cursors: CursorCodec, cursor: str, sort: SortField,
              descending: bool) -> tuple[tuple[Any, uuid.UUID], int]:
    """The keyset position a cursor points after, and the total counted for its first page."""
    position = cursors.decode(cursor)
    try:
        kind, direction, value, proxy_id, total = position
        if type(total) is not int or not 0 <= total <= _MAX_TOTAL:
            raise ValueError("bad total")
        if kind != sort.value or direction != ("desc" if descending else "asc"):
            raise ValueError("cursor from another ordering")
        # None: past the measured rows, into the unmeasured ones (by id).
        after = None if value is None else _sort_value(sort, value)
        return (after, uuid.UUID(proxy_id)), total
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise InvalidInput("The cursor is not valid for this query.",
                           {"cursor": cursor[:100]}) from None


def _sort_value(sort: SortField, value: Any) -> Any:
    if sort is SortField.LAST_CHECKED:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a moment without a zone")
        return moment
    if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > 1e12:
        raise ValueError("bad value")
    return value


def _cursor(cursors: CursorCodec, sort: SortField, descending: bool,
            after: tuple[Any, uuid.UUID], total: int) -> str:
    value, proxy_id = after
    if isinstance(value, datetime):
        value = value.isoformat()
    return cursors.encode([sort.value, "desc" if descending else "asc", value, str(proxy_id),
                           total])


@router.get("/proxies", responses=errors(401, 422), response_model=ProxyPageOut, tags=["proxies"])
async def query_proxies(
    caller: Caller, found: Services, cursors: Cursors,
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
    after, total = (_position(cursors, cursor, sort, descending) if cursor
                    else (None, None))
    page = await inventory.query(wanted, sort, descending, limit, after, total)
    next_cursor = None
    if page.next_after is not None:
        next_cursor = _cursor(cursors, sort, descending, page.next_after, page.total_count)
    return ProxyPageOut(
        items=[ProxyOut.of(p, with_credentials=caller.is_admin) for p in page.items],
        next_cursor=next_cursor, total_count=page.total_count)


@router.post("/proxies", responses=errors(401, 403, 422),
             status_code=201, response_model=ImportOut, tags=["proxies"])
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


@router.post("/proxies/test", responses=errors(401, 403, 404, 422, 429),
             response_model=ReachOut, tags=["proxies"])
async def reachability(body: ReachIn, caller: Caller, found: Services) -> ReachOut:
    wanted = ProxyFilter(protocol=body.protocol,
                         country=body.country.upper() if body.country else None,
                         shared=None if caller.is_admin else True)
    tried = await found.checking.reachability(str(body.url), wanted, body.count,
                                              body.timeout_seconds, user_id=caller.user.id,
                                              privileged=caller.is_admin)
    results = [ReachResultOut(proxy_id=proxy.id, ip=proxy.address.host, port=proxy.address.port,
                              reachable=outcome.reachable, status_code=outcome.status_code,
                              latency_ms=outcome.latency_ms, error=outcome.error)
               for proxy, outcome in tried]
    reached = sum(1 for r in results if r.reachable)
    return ReachOut(url=str(body.url), results=results,
                    success_rate=round(reached / len(results), 4))


# A UUID converter, so /proxies/test and /proxies/acquire are never taken for an id (GET on
# them is a 405, not a 422 about proxy_id).
@router.get("/proxies/{proxy_id:uuid}", responses=errors(401, 404, 422),
            response_model=ProxyDetailOut, tags=["proxies"])
async def proxy_detail(proxy_id: uuid.UUID, caller: Caller, found: Services) -> ProxyDetailOut:
    detail = await found.inventory.detail(proxy_id)
    return ProxyDetailOut(proxy=ProxyOut.of(detail.proxy, with_credentials=caller.is_admin),
                          recent_checks=[CheckOut.of(c) for c in detail.recent_checks])


@router.post("/proxies/acquire", responses=errors(401, 402, 404, 409, 422),
             response_model=AcquireOut, tags=["leases"])
async def acquire(
    caller: Caller, found: Services, body: AcquireIn | None = None,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="A key of the client's choosing: a retry with the same key returns the "
                    "first lease and is not charged again.")] = None,
) -> AcquireOut:
    body = body or AcquireIn()
    wanted = ProxyFilter(protocol=body.protocol, anonymity=body.anonymity,
                         country=body.country.upper() if body.country else None,
                         min_score=body.min_score)
    grant = await found.leasing.acquire(caller.user.id, wanted, body.lease_duration_seconds,
                                        idempotency_key)
    lease = LeaseOut.of(grant.lease)
    return AcquireOut(**lease.model_dump(), credits_remaining=grant.credits_remaining)


@router.post("/proxies/acquire/{lease_id}/release", responses=errors(401, 404, 409, 422),
             response_model=ReleaseOut, tags=["leases"])
async def release(lease_id: uuid.UUID, caller: Caller, found: Services) -> ReleaseOut:
    released_at = await found.leasing.release(caller.user.id, lease_id)
    return ReleaseOut(lease_id=lease_id, status="released", released_at=released_at)


@router.get("/account/leases", responses=errors(401, 422),
            response_model=LeaseListOut, tags=["leases"])
async def my_leases(caller: Caller, found: Services, cursors: Cursors,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    cursor: Annotated[str | None, Query(max_length=500)] = None) -> LeaseListOut:
    page = page_in_created_order(cursors, await found.leasing.live(caller.user.id),
                                 lambda lease: (lease.created_at, lease.id), limit, cursor)
    return LeaseListOut(items=[LeaseOut.of(lease) for lease in page.items],
                        next_cursor=page.next_cursor, total_count=page.total_count)
