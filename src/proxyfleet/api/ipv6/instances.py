"""The 004 endpoints: create (permanent or temp), list, detail, delete, bulk delete, cleanup,
stats and health. Admins only (or keyless loopback calls, when
`ipv6_api_keyless_loopback` is on), except health. Handlers call `InstancesService` and map."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from proxyfleet.api.auth import LocalAdmin, container
from proxyfleet.api.ipv6.envelope import ipv6_errors, ipv6_router
from proxyfleet.api.ipv6.schemas import (
    BulkDeleteIn,
    BulkDeleteOut,
    CleanupOut,
    CreateIn,
    CreateTempIn,
    DeleteOut,
    Endpoints,
    HealthOut,
    InstanceDetailOut,
    InstanceOut,
    InterfaceOut,
    ListOut,
    StatsOut,
    TotalsOut,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.errors import InvalidInput
from proxyfleet.gateway.engine import ListenerProtocol
from proxyfleet.gateway.instances import InstanceNotFound, InstanceView
from proxyfleet.storage.instances import InstanceType

router = ipv6_router(tags=["ipv6"])
Services = Annotated[Container, Depends(container)]

INTERFACE_REQUIRED = "Interface name is required (the interface whose IPv6 prefix to use)"


def _instance_fields(view: InstanceView) -> dict[str, object]:
    record = view.record
    fields: dict[str, object] = {
        "instance_id": str(record.id), "ipv6_address": record.ipv6_address,
        "interface": record.interface, "type": record.type,
        "created_at": record.created_at.timestamp(),
        "status": "running" if view.running else "stopped"}
    if record.type is InstanceType.BOTH:
        fields["endpoints"] = Endpoints(http=view.endpoints.get(ListenerProtocol.HTTP),
                                        socks5=view.endpoints.get(ListenerProtocol.SOCKS5))
    else:
        fields["proxy_endpoint"] = next(iter(view.endpoints.values()), None)
    if record.expires_at is not None:
        fields["expires_at"] = record.expires_at.timestamp()
        fields["ttl"] = round((record.expires_at - record.created_at).total_seconds())
    return fields


def _created(view: InstanceView) -> InstanceOut:
    return InstanceOut.model_validate(_instance_fields(view))


def _detail(view: InstanceView) -> InstanceDetailOut:
    stats = StatsOut(connections=view.stats.connections, bytes_sent=view.stats.bytes_sent,
                     bytes_received=view.stats.bytes_received,
                     last_activity_ts=view.stats.last_activity_ts, uptime=view.stats.uptime)
    return InstanceDetailOut.model_validate({**_instance_fields(view), "stats": stats})


def _instance_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InstanceNotFound("Proxy not found", {"instance_id": text}) from None


@router.post("/api/create_proxy", responses=ipv6_errors(400, 401, 403, 409, 500, 503),
             response_model=InstanceOut, response_model_exclude_none=True)
async def create_proxy(_: LocalAdmin, found: Services, body: CreateIn) -> InstanceOut:
    if body.interface is None or not body.interface.strip():
        raise InvalidInput(INTERFACE_REQUIRED)
    return _created(await found.instances.create(body.type, body.interface))


@router.post("/api/proxy/create_temp", responses=ipv6_errors(400, 401, 403, 409, 500, 503),
             response_model=InstanceOut,
             response_model_exclude_none=True)
async def create_temp_proxy(_: LocalAdmin, found: Services, body: CreateTempIn) -> InstanceOut:
    return _created(await found.instances.create(body.type, body.interface, body.ttl))


@router.get("/api/list_proxies", responses=ipv6_errors(400, 401, 403),
            response_model=ListOut, response_model_exclude_none=True)
async def list_proxies(_: LocalAdmin, found: Services) -> ListOut:
    views = await found.instances.list_instances()
    return ListOut(proxies=[_detail(view) for view in views], total=len(views))


@router.get("/api/proxy/{instance_id}", responses=ipv6_errors(400, 401, 403, 404),
            response_model=InstanceDetailOut,
            response_model_exclude_none=True)
async def get_proxy(_: LocalAdmin, found: Services, instance_id: str) -> InstanceDetailOut:
    return _detail(await found.instances.get(_instance_id(instance_id)))


@router.delete("/api/proxy/{instance_id}", responses=ipv6_errors(400, 401, 403, 404),
               response_model=DeleteOut)
async def delete_proxy(_: LocalAdmin, found: Services, instance_id: str) -> DeleteOut:
    await found.instances.delete(_instance_id(instance_id))
    return DeleteOut(message=f"Proxy {instance_id} deleted", instance_id=instance_id)


@router.post("/api/proxy/bulk_delete", responses=ipv6_errors(400, 401, 403),
             response_model=BulkDeleteOut)
async def bulk_delete(_: LocalAdmin, found: Services, body: BulkDeleteIn) -> BulkDeleteOut:
    if body.delete_all:
        deleted = await found.instances.delete_all()
    elif body.instance_ids:
        deleted = await found.instances.delete_many(body.instance_ids)
    else:
        raise InvalidInput("Provide instance_ids or delete_all")
    return BulkDeleteOut(message=f"Deleted {len(deleted)} proxies", deleted_count=len(deleted),
                         deleted=[str(instance_id) for instance_id in deleted])


@router.post("/api/cleanup", responses=ipv6_errors(400, 401, 403), response_model=CleanupOut)
async def api_cleanup(_: LocalAdmin, found: Services) -> CleanupOut:
    cleaned = [str(instance_id) for instance_id in await found.instances.expire_due()]
    return CleanupOut(message=f"Cleaned up {len(cleaned)} expired proxies",
                      cleaned_instances=cleaned, cleaned_count=len(cleaned))


@router.get("/api/stats", responses=ipv6_errors(400, 401, 403), response_model=TotalsOut)
async def api_stats(_: LocalAdmin, found: Services) -> TotalsOut:
    totals = await found.instances.totals()
    interfaces = [InterfaceOut(name=name, prefix=totals.prefixes.get(name), proxies=count)
                  for name, count in sorted(totals.instances_by_interface.items())]
    return TotalsOut(total_proxies=totals.total_proxies,
                     running_proxies=totals.running_proxies,
                     total_connections=totals.connections, total_bytes_sent=totals.bytes_sent,
                     total_bytes_received=totals.bytes_received,
                     mode=found.settings.ipv6_mode.value, interfaces=interfaces)


@router.get("/api/health", responses=ipv6_errors(400), response_model=HealthOut)
async def api_health() -> HealthOut:
    """Public, like `/health`: says only that the 004 API answers."""
    return HealthOut(status="healthy")
