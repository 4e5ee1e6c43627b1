"""Seed 002's endpoints under `/api/external-proxy`: list, purchase, orders (and their
export), refund for users; sync, cleanup, stats and scheduler status for admins. Handlers
call `ShopService` and map; money is rendered as the seed shows it."""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, Query
from fastapi.responses import PlainTextResponse

from proxyfleet.api.auth import Admin, Caller, container
from proxyfleet.api.shop.envelope import MoneyJSONResponse, shop_router
from proxyfleet.api.shop.schemas import (
    CleanupOut,
    ListOut,
    ListQuery,
    OrderOut,
    OrdersOut,
    ProductOut,
    PurchaseIn,
    PurchaseOut,
    RefundIn,
    RefundOut,
    SchedulerStatusOut,
    StatsOut,
    SyncIn,
    SyncOut,
    utc_text,
)
from proxyfleet.bootstrap import Container
from proxyfleet.core.shop import CatalogueQuery, Order
from proxyfleet.shop.rules import dollars
from proxyfleet.shop.service import ShopService

PREFIX = "/api/external-proxy"
router = shop_router(tags=["shop"])


async def shop_service(found: Annotated[Container, Depends(container)]) -> ShopService:
    return found.shop


Shop = Annotated[ShopService, Depends(shop_service)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=200)]


class ExportFormat(StrEnum):
    CSV = "csv"
    TXT = "txt"


@router.get(f"{PREFIX}/list", response_model=ListOut)
async def list_products(_: Caller, shop: Shop,
                        query: Annotated[ListQuery, Query()]) -> MoneyJSONResponse:
    wanted = CatalogueQuery(country_code=query.country_code.upper() if query.country_code
                            else None, city=query.city, kind=query.type, page=query.page,
                            page_size=query.page_size)
    found = await shop.catalogue(wanted)
    price = shop.policy.price_cents
    body = ListOut(proxies=[ProductOut.of(item, price) for item in found.items],
                   total=found.total, page=query.page, page_size=query.page_size)
    return MoneyJSONResponse(body.model_dump())


@router.post(f"{PREFIX}/purchase", response_model=PurchaseOut)
async def purchase(caller: Caller, shop: Shop, body: PurchaseIn,
                   idempotency_key: IdempotencyKey = None) -> MoneyJSONResponse:
    order = await shop.purchase(caller.user.id, body.product_id, idempotency_key)
    return MoneyJSONResponse(PurchaseOut.of(order, shop.refundable(order)).model_dump())


def _order_out(shop: ShopService, order: Order) -> OrderOut:
    bought = PurchaseOut.of(order, shop.refundable(order))
    return OrderOut(**bought.model_dump(), product_id=order.product_id,
                    created_at=utc_text(order.created_at) or "",
                    refunded=order.refunded_at is not None, proxy_status=order.proxy_status)


@router.get(f"{PREFIX}/orders", response_model=OrdersOut)
async def orders(caller: Caller, shop: Shop) -> MoneyJSONResponse:
    found = await shop.orders(caller.user.id)
    body = OrdersOut(orders=[_order_out(shop, order) for order in found], total=len(found))
    return MoneyJSONResponse(body.model_dump())


# The answer is text; its errors are JSON like every other route's (the default class keeps
# them documented so), and the text is returned as a response of its own.
@router.get(f"{PREFIX}/orders/export", response_model=None, responses={200: {
    "description": "CSV (a header row) or TXT (`ip:port:login:password` lines).",
    "content": {"text/csv": {}, "text/plain": {}}}})
async def export_orders(caller: Caller, shop: Shop,
                        format: ExportFormat = ExportFormat.CSV) -> PlainTextResponse:
    """The caller's bought proxies with credentials: CSV with a header, or TXT with one
    `ip:port:login:password` per line."""
    found = [order for order in await shop.orders(caller.user.id)
             if order.credentials is not None]
    if format is ExportFormat.TXT:
        lines = [f"{o.credentials.ip}:{o.credentials.port}:{o.credentials.login}:"
                 f"{o.credentials.password}" for o in found if o.credentials]
        return PlainTextResponse("".join(line + "\n" for line in lines),
                                 headers=_attachment("orders.txt"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order_id", "proxy_id", "ip", "port", "login", "password", "country",
                     "ISP", "price", "expires_at", "refunded"])
    for o in found:
        assert o.credentials is not None
        writer.writerow([o.order_id, o.proxy_id, o.credentials.ip, o.credentials.port,
                         o.credentials.login, o.credentials.password, o.country, o.isp,
                         f"{dollars(o.price_cents):.2f}", utc_text(o.expires_at),
                         "yes" if o.refunded_at else "no"])
    return PlainTextResponse(out.getvalue(), media_type="text/csv",
                             headers=_attachment("orders.csv"))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.post(f"{PREFIX}/refund", response_model=RefundOut)
async def refund(caller: Caller, shop: Shop, body: RefundIn) -> MoneyJSONResponse:
    done = await shop.refund(caller.user.id, body.order_id)
    return MoneyJSONResponse(RefundOut(refund_amount=dollars(done.amount_cents)).model_dump())


@router.post(f"{PREFIX}/sync", response_model=SyncOut)
async def sync(_: Admin, shop: Shop, body: SyncIn | None = None) -> SyncOut:
    wanted = body or SyncIn()
    report = await shop.sync(wanted.country_code.upper() if wanted.country_code else None,
                             wanted.page_size)
    return SyncOut.of(report)


@router.post(f"{PREFIX}/cleanup", response_model=CleanupOut)
async def cleanup(_: Admin, shop: Shop) -> CleanupOut:
    removed = await shop.cleanup()
    return CleanupOut(removed_count=removed,
                      message=f"Removed {removed} expired proxies from inventory")


@router.get(f"{PREFIX}/stats", response_model=StatsOut)
async def stats(_: Admin, shop: Shop) -> MoneyJSONResponse:
    return MoneyJSONResponse(StatsOut.of(await shop.stats()).model_dump())


@router.get(f"{PREFIX}/scheduler-status", response_model=SchedulerStatusOut)
async def scheduler_status(_: Admin, found: Annotated[Container, Depends(container)]
                           ) -> SchedulerStatusOut:
    schedule = await found.shop.schedule()
    return SchedulerStatusOut(
        running=found.shop_scheduler_running, provider=found.shop.provider_name,
        interval_minutes=found.shop.policy.sync_interval.total_seconds() / 60,
        next_run=utc_text(schedule.next_run_at) if schedule else None,
        last_sync=utc_text(schedule.last_run_at) if schedule else None,
        last_result=schedule.last_result if schedule else None,
        last_error=schedule.last_error if schedule else None,
        last_error_at=utc_text(schedule.last_error_at) if schedule else None)
