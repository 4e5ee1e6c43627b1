"""Shop entities (seed 002): upstream products, the catalogue, orders, refunds, sync reports.
Frozen dataclasses, no I/O. Money is integer US cents.

Imports nothing of the project but `core`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ORDER_PREFIX = "ORD-"


class ProductKind(enum.StrEnum):
    """What the seed's `type` filter names: from the provider's mobile and hosting flags."""

    RESIDENTIAL = "residential"
    MOBILE = "mobile"
    HOSTING = "hosting"

    @classmethod
    def of(cls, mobile: bool, hosting: bool) -> ProductKind:
        if mobile:
            return cls.MOBILE
        return cls.HOSTING if hosting else cls.RESIDENTIAL


class OrderState(enum.StrEnum):
    """`pending` while the money is held and the provider asked; `completed` once bought."""

    PENDING = "pending"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class UpstreamProduct:
    """A product as the provider lists it (no credentials until bought)."""

    product_id: int
    proxy_id: int
    ip: str
    country: str
    country_code: str
    city: str
    isp: str
    speed: int | None
    mobile: bool
    hosting: bool
    status: int

    @property
    def online(self) -> bool:
        return self.status == 1

    @property
    def kind(self) -> ProductKind:
        return ProductKind.of(self.mobile, self.hosting)


@dataclass(frozen=True, slots=True)
class UpstreamPage:
    products: list[UpstreamProduct]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class UpstreamCredentials:
    """What buying returns: the proxy and how to log in to it."""

    credentials_id: int
    proxy_id: int
    ip: str
    port: int
    login: str
    password: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One product of the shop's own catalogue: `id` is the public `product_id`."""

    id: int
    provider: str
    upstream_product_id: int
    product: UpstreamProduct
    synced_at: datetime
    sold: bool


@dataclass(frozen=True, slots=True)
class CatalogueQuery:
    country_code: str | None = None
    city: str | None = None
    kind: ProductKind | None = None
    page: int = 0
    page_size: int = 50


@dataclass(frozen=True, slots=True)
class CataloguePage:
    items: list[CatalogueItem]
    total: int


@dataclass(frozen=True, slots=True)
class OrderCredentials:
    ip: str
    port: int
    login: str
    password: str


@dataclass(frozen=True, slots=True)
class Order:
    number: int
    user_id: uuid.UUID
    product_id: int
    provider: str
    proxy_id: int
    country: str
    isp: str
    price_cents: int
    state: OrderState
    created_at: datetime
    credentials: OrderCredentials | None
    credentials_id: int | None
    expires_at: datetime | None
    refunded_at: datetime | None
    inventory_id: uuid.UUID | None = None
    proxy_status: str | None = None

    @property
    def order_id(self) -> str:
        return f"{ORDER_PREFIX}{self.number}"


@dataclass(frozen=True, slots=True)
class RefundEvidence:
    """Why a refund was granted (or refused): what the provider said and what our own checks
    through the bought credentials found."""

    upstream_status: int | None
    upstream_error: str | None
    own_checks: tuple[bool, ...]
    own_errors: tuple[str, ...]

    @property
    def offline(self) -> bool:
        upstream_offline = self.upstream_status is not None and self.upstream_status != 1
        own_failed_twice = len(self.own_checks) >= 2 and not any(self.own_checks)
        return upstream_offline or own_failed_twice

    def as_json(self) -> dict[str, Any]:
        return {"upstream_status": self.upstream_status, "upstream_error": self.upstream_error,
                "own_checks": list(self.own_checks), "own_errors": list(self.own_errors)}


@dataclass(frozen=True, slots=True)
class Refund:
    order_number: int
    user_id: uuid.UUID
    amount_cents: int
    evidence: RefundEvidence
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SyncReport:
    total_fetched: int
    total_available_external: int
    added: int
    updated: int
    skipped: int
    removed: int
    sync_time: datetime

    def as_json(self) -> dict[str, Any]:
        return {"total_fetched": self.total_fetched,
                "total_available_external": self.total_available_external,
                "added": self.added, "updated": self.updated, "skipped": self.skipped,
                "removed": self.removed, "sync_time": self.sync_time.isoformat()}


@dataclass(frozen=True, slots=True)
class ShopStats:
    total_inventory: int
    total_sold: int
    total_refunded: int
    revenue_cents: int
    countries_available: int
    last_sync: datetime | None


@dataclass(frozen=True, slots=True)
class SyncSchedule:
    """The provider's row of the sync schedule."""

    provider: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_result: dict[str, Any] | None
    last_error: str | None
    last_error_at: datetime | None
