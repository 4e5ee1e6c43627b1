"""Request and response bodies of the shop surface, with exactly the seed's field names.
Money fields are Decimals, rendered as numbers with two decimals (`2.00`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from proxyfleet.core.shop import CatalogueItem, Order, ProductKind, ShopStats, SyncReport
from proxyfleet.shop.rules import dollars

MAX_PAGE_SIZE = 500
# A money amount: a Decimal here, a JSON number with two decimals on the wire (envelope.py's
# MoneyJSONResponse), so the spec says number, not pydantic's string for a Decimal.
Money = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [2.0]})]


def utc_text(moment: datetime | None) -> str | None:
    """`2025-11-18T10:30:00Z`, as the seed writes times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


class ProductOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    product_id: int
    proxy_id: int
    country: str
    country_code: str
    city: str
    ISP: str
    price: Money
    status: int

    @classmethod
    def of(cls, item: CatalogueItem, price_cents: int) -> ProductOut:
        product = item.product
        return cls(product_id=item.id, proxy_id=product.proxy_id, country=product.country,
                   country_code=product.country_code, city=product.city, ISP=product.isp,
                   price=dollars(price_cents), status=product.status)


class ListOut(BaseModel):
    proxies: list[ProductOut]
    total: int
    page: int
    page_size: int


class PurchaseIn(BaseModel):
    product_id: int = Field(ge=1, description="A product_id from the list.")


class CredentialsOut(BaseModel):
    ip: str
    port: str
    login: str
    password: str
    country: str
    ISP: str


class PurchaseOut(BaseModel):
    order_id: str
    proxy_id: int
    credentials: CredentialsOut
    price: Money
    expires_at: str | None
    refundable: bool

    @classmethod
    def of(cls, order: Order, refundable: bool) -> PurchaseOut:
        creds = order.credentials
        assert creds is not None  # a completed order has its credentials
        return cls(order_id=order.order_id, proxy_id=order.proxy_id,
                   credentials=CredentialsOut(ip=creds.ip, port=str(creds.port),
                                              login=creds.login, password=creds.password,
                                              country=order.country, ISP=order.isp),
                   price=dollars(order.price_cents), expires_at=utc_text(order.expires_at),
                   refundable=refundable)


class OrderOut(PurchaseOut):
    """An order as its buyer lists it: the purchase reply plus when it was bought, whether it
    was refunded, and the bought proxy's status as proxyfleet's checker last saw it."""

    product_id: int
    created_at: str
    refunded: bool
    proxy_status: str | None


class OrdersOut(BaseModel):
    orders: list[OrderOut]
    total: int


class RefundIn(BaseModel):
    order_id: str = Field(min_length=1, max_length=40, description="Like ORD-12345.")


class RefundOut(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Proxy refunded successfully"
    refund_amount: Money


class SyncIn(BaseModel):
    country_code: str | None = Field(None, min_length=2, max_length=8)
    page_size: int | None = Field(None, ge=1, le=1000)


class SyncOut(BaseModel):
    total_fetched: int
    total_available_external: int
    added: int
    updated: int
    skipped: int
    sync_time: str | None

    @classmethod
    def of(cls, report: SyncReport) -> SyncOut:
        return cls(total_fetched=report.total_fetched,
                   total_available_external=report.total_available_external,
                   added=report.added, updated=report.updated, skipped=report.skipped,
                   sync_time=utc_text(report.sync_time))


class CleanupOut(BaseModel):
    status: Literal["success"] = "success"
    removed_count: int
    message: str


class StatsOut(BaseModel):
    total_inventory: int
    total_sold: int
    total_refunded: int
    revenue: Money
    countries_available: int
    last_sync: str | None

    @classmethod
    def of(cls, stats: ShopStats) -> StatsOut:
        return cls(total_inventory=stats.total_inventory, total_sold=stats.total_sold,
                   total_refunded=stats.total_refunded, revenue=dollars(stats.revenue_cents),
                   countries_available=stats.countries_available,
                   last_sync=utc_text(stats.last_sync))


class SchedulerStatusOut(BaseModel):
    """`GET /api/external-proxy/scheduler-status`, which the seed asks for."""

    running: bool = Field(description="Whether this process runs the scheduled sync.")
    provider: str
    interval_minutes: float
    next_run: str | None
    last_sync: str | None
    last_result: dict[str, Any] | None
    last_error: str | None
    last_error_at: str | None


class ListQuery(BaseModel):
    country_code: str | None = None
    city: str | None = None
    type: ProductKind | None = None
    page: int = Field(0, ge=0)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TelegramLoginIn(BaseModel):
    telegram_id: int = Field(ge=1)
    name: str | None = Field(None, max_length=200)


class TelegramLoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    user_id: str
    created: bool


class BotKeyIn(BaseModel):
    label: str = Field("telegram bot", min_length=1, max_length=200)


class BotKeyOut(BaseModel):
    key: str
    label: str
