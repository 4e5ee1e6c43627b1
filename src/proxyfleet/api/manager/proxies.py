"""The 000 endpoints: list, create, delete, enable/disable and share the manager's proxies,
report outcomes, ask the rotation for the next proxy, read and change its settings. Admins
only. Handlers parse, call `ManagerService` or the rotation service, and map."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from proxyfleet.api.auth import Admin, container
from proxyfleet.api.manager.envelope import manager_router
from proxyfleet.api.manager.schemas import (
    NextOut,
    ProxyChange,
    ProxyCreate,
    ProxyOut,
    ProxyStatusWord,
    ProxyWithSessionsOut,
    Report,
    RotationIn,
    RotationOut,
    StatusChange,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import InvalidInput
from proxyfleet.core.proxies import Anonymity, ProxyFilter, ProxyProtocol
from proxyfleet.core.rotation import Strategy, Want
from proxyfleet.pool.manager import Changes, NewProxy
from proxyfleet.pool.parsers.address import make_address

router = manager_router(tags=["manager"])
Services = Annotated[Container, Depends(container)]


@router.get("/api/proxies", response_model=list[ProxyWithSessionsOut])
async def list_proxies(_: Admin, found: Services) -> list[ProxyWithSessionsOut]:
    return [ProxyWithSessionsOut.of(proxy) for proxy in await found.manager.listing()]


@router.post("/api/proxies", status_code=201, response_model=ProxyWithSessionsOut)
async def create_proxy(body: ProxyCreate, admin: Admin, found: Services) -> ProxyWithSessionsOut:
    address = make_address(body.ip, body.port, body.protocol, body.username, body.password)
    if address is None:
        raise InvalidInput("Not a valid proxy address.", {"fields": [
            {"field": "body.ip", "message": "not an IP address or host name",
             "type": "value_error"}]})
    added = await found.manager.add(NewProxy(address, body.session, body.shared,
                                             admin.user.id, body.hourly_budget))
    return ProxyWithSessionsOut.of(added)


@router.get("/api/proxies/next", response_model=NextOut)
async def next_proxy(
    _: Admin, found: Services,
    strategy: Strategy | None = None,
    key: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    protocol: ProxyProtocol | None = None,
    anonymity: Anonymity | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_latency_ms: Annotated[float | None, Query(ge=0.0)] = None,
) -> NextOut:
    want = Want(filter=ProxyFilter(protocol=protocol, anonymity=anonymity,
                                   country=country.upper() if country else None,
                                   min_score=min_score, max_latency_ms=max_latency_ms),
                strategy=strategy, key=key, include_private=True)
    pick, proxy = await found.manager.next_proxy(want)
    return NextOut.of_pick(pick, proxy, found.rotation.strategy_for(want))


@router.get("/api/proxies/rotation", response_model=RotationOut)
async def rotation_settings(_: Admin, found: Services) -> RotationOut:
    return RotationOut.of(await found.rotation.settings())


@router.put("/api/proxies/rotation", response_model=RotationOut)
async def change_rotation(body: RotationIn, _: Admin, found: Services) -> RotationOut:
    changes = body.model_dump(exclude_unset=True)
    for name in ("health_window", "error_threshold", "cooloff_seconds", "strategy"):
        if name in changes and changes[name] is None:
            raise InvalidInput("A setting cannot be null.", {"fields": [
                {"field": f"body.{name}", "message": "may not be null", "type": "value_error"}]})
    return RotationOut.of(await found.rotation.change_settings(**changes))


@router.get("/api/proxies/{proxy_id:int}", response_model=ProxyWithSessionsOut)
async def get_proxy(proxy_id: int, _: Admin, found: Services) -> ProxyWithSessionsOut:
    return ProxyWithSessionsOut.of(await found.manager.get(proxy_id))


@router.delete("/api/proxies/{proxy_id:int}", status_code=204, response_class=Response)
async def delete_proxy(proxy_id: int, _: Admin, found: Services) -> Response:
    await found.manager.remove(proxy_id)
    return Response(status_code=204)


@router.patch("/api/proxies/{proxy_id:int}/status", response_model=ProxyOut)
async def change_status(proxy_id: int, body: StatusChange, _: Admin,
                        found: Services) -> ProxyOut:
    if body.status is None and body.shared is None:
        raise InvalidInput("Send `status` (active or disabled).", {"fields": [
            {"field": "body.status", "message": "Field required", "type": "missing"}]})
    active = None if body.status is None else body.status is ProxyStatusWord.ACTIVE
    return ProxyOut.of(await found.manager.change(proxy_id, Changes(active, body.shared)))


@router.patch("/api/proxies/{proxy_id:int}", response_model=ProxyOut)
async def change_proxy(proxy_id: int, body: ProxyChange, _: Admin, found: Services) -> ProxyOut:
    changes = Changes(body.is_active, body.shared, body.hourly_budget,
                      sets_budget="hourly_budget" in body.model_fields_set)
    return ProxyOut.of(await found.manager.change(proxy_id, changes))


@router.post("/api/proxies/{proxy_id:int}/report", response_model=ProxyOut)
async def report(proxy_id: int, body: Report, _: Admin, found: Services) -> ProxyOut:
    return ProxyOut.of(await found.manager.report(proxy_id, body.success))
