"""Repositories of the reseller shop: the catalogue, orders and refunds, and the providers'
sync schedule. Never commit. Order credentials and provider tokens are sealed with the unit
of work's box; nothing above storage sees a sealed value.

A product is sold while an order names it (the unique `shop_orders.product_id`); a refund
exists at most once per order (its primary key). Both races are settled by those constraints:
the loser's insert fails and its whole transaction (the debit or the credit with it) rolls
back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.shop import (
    CatalogueItem,
    CataloguePage,
    CatalogueQuery,
    Order,
    OrderCredentials,
    OrderState,
    Refund,
    SyncSchedule,
    UpstreamCredentials,
    UpstreamProduct,
)
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import (
    ProxyRow,
    ShopOrderRow,
    ShopProductRow,
    ShopProviderRow,
    ShopRefundRow,
)

PRODUCTS = cast(Table, ShopProductRow.__table__)
ORDERS = cast(Table, ShopOrderRow.__table__)
REFUNDS = cast(Table, ShopRefundRow.__table__)
# Rows per executemany: well under SQLite's and asyncpg's parameter limits.
SYNC_BATCH = 1000

_SOLD = exists().where(ORDERS.c.product_id == PRODUCTS.c.id)
_PRODUCT_FIELDS = ("proxy_id", "ip", "country", "country_code", "city", "isp", "speed",
                   "mobile", "hosting", "kind", "status")


class ProductTaken(Exception):
    """An order already names this product (or one with this Idempotency-Key exists)."""


class AlreadyRefunded(Exception):
    """The order has its refund already."""


def product_fields(product: UpstreamProduct) -> dict[str, Any]:
    return {"proxy_id": product.proxy_id, "ip": product.ip, "country": product.country,
            "country_code": product.country_code, "city": product.city, "isp": product.isp,
            "speed": product.speed, "mobile": product.mobile, "hosting": product.hosting,
            "kind": product.kind.value, "status": product.status}


def _product(row: Row[Any] | ShopProductRow) -> UpstreamProduct:
    return UpstreamProduct(row.upstream_product_id, row.proxy_id, row.ip, row.country,
                           row.country_code, row.city, row.isp, row.speed, row.mobile,
                           row.hosting, row.status)


def _item(row: Row[Any], sold: bool) -> CatalogueItem:
    return CatalogueItem(row.id, row.provider, row.upstream_product_id, _product(row),
                         row.synced_at, sold)


class CatalogueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def known(self, provider: str,
                    country_code: str | None = None) -> dict[int, tuple[int, UpstreamProduct]]:
        """The provider's products we list, by the provider's product id."""
        query = select(PRODUCTS).where(PRODUCTS.c.provider == provider)
        if country_code is not None:
            query = query.where(PRODUCTS.c.country_code == country_code)
        rows = await self._session.execute(query)
        return {row.upstream_product_id: (row.id, _product(row)) for row in rows}

    async def add_many(self, provider: str, products: Sequence[UpstreamProduct],
                       at: datetime) -> None:
        rows = [{"provider": provider, "upstream_product_id": p.product_id, "synced_at": at,
                 **product_fields(p)} for p in products]
        for start in range(0, len(rows), SYNC_BATCH):
            await self._session.execute(insert(PRODUCTS), rows[start:start + SYNC_BATCH])

    async def update_many(self, changed: Sequence[tuple[int, UpstreamProduct]],
                          at: datetime) -> None:
        statement = (update(PRODUCTS).where(PRODUCTS.c.id == bindparam("row_id"))
                     .values({name: bindparam(name) for name in (*_PRODUCT_FIELDS,
                                                                  "synced_at")}))
        rows = [{"row_id": row_id, "synced_at": at, **product_fields(p)}
                for row_id, p in changed]
        connection = await self._session.connection()
        for start in range(0, len(rows), SYNC_BATCH):
            await connection.execute(statement, rows[start:start + SYNC_BATCH])

    async def touch(self, row_ids: Sequence[int], at: datetime) -> None:
        """Mark unchanged products as seen by this sync."""
        for start in range(0, len(row_ids), SYNC_BATCH):
            await self._session.execute(
                update(PRODUCTS).where(PRODUCTS.c.id.in_(row_ids[start:start + SYNC_BATCH]))
                .values(synced_at=at))

    async def remove_unsold(self, row_ids: Sequence[int]) -> int:
        """Remove these products unless an order names them (a sold product stays)."""
        removed = 0
        for start in range(0, len(row_ids), SYNC_BATCH):
            result = await self._session.execute(
                delete(PRODUCTS).where(PRODUCTS.c.id.in_(row_ids[start:start + SYNC_BATCH]),
                                       ~_SOLD))
            removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed

    async def remove_expired(self, provider: str, seen_before: datetime) -> int:
        """Remove unsold products that are offline or that no sync has seen since
        `seen_before`."""
        result = await self._session.execute(
            delete(PRODUCTS).where(PRODUCTS.c.provider == provider, ~_SOLD,
                                   (PRODUCTS.c.status != 1)
                                   | (PRODUCTS.c.synced_at < seen_before)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _for_sale(self, query: CatalogueQuery) -> list[Any]:
        clauses: list[Any] = [PRODUCTS.c.status == 1, ~_SOLD]
        if query.country_code is not None:
            clauses.append(PRODUCTS.c.country_code == query.country_code)
        if query.city is not None:
            clauses.append(func.lower(PRODUCTS.c.city) == query.city.lower())
        if query.kind is not None:
            clauses.append(PRODUCTS.c.kind == query.kind.value)
        return clauses

    async def page(self, query: CatalogueQuery) -> CataloguePage:
        clauses = self._for_sale(query)
        rows = await self._session.execute(
            select(PRODUCTS).where(*clauses).order_by(PRODUCTS.c.id)
            .limit(query.page_size).offset(query.page * query.page_size))
        total = await self._session.scalar(
            select(func.count()).select_from(PRODUCTS).where(*clauses))
        return CataloguePage([_item(row, False) for row in rows], int(total or 0))

    async def item(self, product_id: int) -> CatalogueItem | None:
        row = (await self._session.execute(
            select(PRODUCTS, _SOLD.label("sold")).where(PRODUCTS.c.id == product_id))).first()
        return _item(row, bool(row.sold)) if row is not None else None

    async def for_sale_totals(self) -> tuple[int, int]:
        """(products for sale, countries they are in)."""
        found = (await self._session.execute(
            select(func.count(), func.count(PRODUCTS.c.country_code.distinct()))
            .where(PRODUCTS.c.status == 1, ~_SOLD))).one()
        return int(found[0]), int(found[1])


def _order(row: Row[Any], box: SecretBox) -> Order:
    credentials = None
    if row.ip is not None and row.port is not None:
        credentials = OrderCredentials(row.ip, row.port, box.open(row.login),
                                       box.open(row.password))
    return Order(
        number=row.id, user_id=row.user_id, product_id=row.product_id, provider=row.provider,
        proxy_id=row.proxy_id, country=row.country, isp=row.isp, price_cents=row.price_cents,
        state=OrderState(row.state), created_at=row.created_at, credentials=credentials,
        credentials_id=row.credentials_id, expires_at=row.expires_at,
        refunded_at=row.refunded_at, inventory_id=row.inventory_id,
        proxy_status=getattr(row, "proxy_status", None))


# Every purchase runs these two: Core statements built once (see storage/accounts.py).
_RESERVE = insert(ORDERS).returning(ORDERS.c.id)
_COMPLETE = (update(ORDERS).where(ORDERS.c.id == bindparam("order_number"))
             .values({column: bindparam(f"new_{column}") for column in (
                 "state", "credentials_id", "ip", "port", "login", "password", "expires_at",
                 "inventory_id")}))
_ORDER_WITH_STATUS = (select(ORDERS, ProxyRow.status.label("proxy_status"))
                      .outerjoin(ProxyRow, ProxyRow.id == ORDERS.c.inventory_id))


class OrdersRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    async def reserve(self, user_id: uuid.UUID, item: CatalogueItem, price_cents: int,
                      idempotency_key: str | None, at: datetime) -> int:
        """A pending order for the product: its number, or ProductTaken when an order names
        the product already (or this key was used) — the caller's transaction is then
        spoilt and must be rolled back."""
        product = item.product
        try:
            number = await self._session.scalar(_RESERVE, {
                "user_id": user_id, "product_id": item.id, "idempotency_key": idempotency_key,
                "provider": item.provider, "proxy_id": product.proxy_id,
                "country": product.country, "isp": product.isp, "price_cents": price_cents,
                "state": OrderState.PENDING.value, "created_at": at})
        except IntegrityError:
            raise ProductTaken(item.id) from None
        return int(cast(int, number))

    async def complete(self, number: int, bought: UpstreamCredentials,
                       expires_at: datetime, inventory_id: uuid.UUID) -> None:
        await self._session.execute(_COMPLETE, {
            "order_number": number, "new_state": OrderState.COMPLETED.value,
            "new_credentials_id": bought.credentials_id, "new_ip": bought.ip,
            "new_port": bought.port, "new_login": self._box.seal(bought.login),
            "new_password": self._box.seal(bought.password), "new_expires_at": expires_at,
            "new_inventory_id": inventory_id})

    async def unlink_inventory(self, inventory_id: uuid.UUID) -> None:
        """No order names this inventory row any more (its endpoint is being sold again:
        the row is the new order's)."""
        await self._session.execute(update(ORDERS).where(ORDERS.c.inventory_id == inventory_id)
                                    .values(inventory_id=None))

    async def drop_pending(self, number: int) -> bool:
        result = await self._session.execute(delete(ORDERS).where(
            ORDERS.c.id == number, ORDERS.c.state == OrderState.PENDING.value))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def get(self, number: int) -> Order | None:
        row = (await self._session.execute(
            _ORDER_WITH_STATUS.where(ORDERS.c.id == number))).first()
        return _order(row, self._box) if row is not None else None

    async def by_key(self, user_id: uuid.UUID, idempotency_key: str) -> Order | None:
        row = (await self._session.execute(_ORDER_WITH_STATUS.where(
            ORDERS.c.user_id == user_id, ORDERS.c.idempotency_key == idempotency_key))).first()
        return _order(row, self._box) if row is not None else None

    async def of_user(self, user_id: uuid.UUID) -> list[Order]:
        rows = await self._session.execute(_ORDER_WITH_STATUS.where(
            ORDERS.c.user_id == user_id, ORDERS.c.state == OrderState.COMPLETED.value)
            .order_by(ORDERS.c.id.desc()))
        return [_order(row, self._box) for row in rows]

    async def stale_pending(self, before: datetime) -> list[Order]:
        rows = await self._session.execute(_ORDER_WITH_STATUS.where(
            ORDERS.c.state == OrderState.PENDING.value, ORDERS.c.created_at < before))
        return [_order(row, self._box) for row in rows]

    async def add_refund(self, refund: Refund) -> None:
        """Record the refund, or raise AlreadyRefunded (the caller's transaction is spoilt)."""
        try:
            await self._session.execute(insert(REFUNDS).values(
                order_id=refund.order_number, user_id=refund.user_id,
                amount_cents=refund.amount_cents, evidence=refund.evidence.as_json(),
                created_at=refund.created_at))
        except IntegrityError:
            raise AlreadyRefunded(refund.order_number) from None
        await self._session.execute(update(ORDERS).where(ORDERS.c.id == refund.order_number)
                                    .values(refunded_at=refund.created_at))

    async def refund_evidence(self, number: int) -> dict[str, Any] | None:
        found = await self._session.scalar(select(REFUNDS.c.evidence)
                                           .where(REFUNDS.c.order_id == number))
        return cast(dict[str, Any] | None, found)

    async def money(self) -> tuple[int, int, int]:
        """(orders completed, refunds, revenue in cents: sales minus refunds)."""
        sold = (await self._session.execute(
            select(func.count(), func.coalesce(func.sum(ORDERS.c.price_cents), 0))
            .where(ORDERS.c.state == OrderState.COMPLETED.value))).one()
        refunded = (await self._session.execute(
            select(func.count(), func.coalesce(func.sum(REFUNDS.c.amount_cents), 0)))).one()
        return int(sold[0]), int(refunded[0]), int(sold[1]) - int(refunded[1])


def _schedule(row: ShopProviderRow) -> SyncSchedule:
    return SyncSchedule(row.name, row.next_sync_at, row.last_sync_at, row.last_result,
                        row.last_error, row.last_error_at)


class ProvidersRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    async def ensure(self, name: str, base_url: str, token: str, first_sync_at: datetime) -> None:
        """Record the configured provider (its token sealed), keeping its schedule; several
        processes starting at once insert it once."""
        dialect = self._session.get_bind().dialect.name
        insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self._session.execute(
            insert_into(ShopProviderRow).values(name=name, base_url=base_url,
                                                token=self._box.seal(token),
                                                next_sync_at=first_sync_at)
            .on_conflict_do_nothing(index_elements=[ShopProviderRow.name]))
        row = await self._session.get(ShopProviderRow, name)
        assert row is not None
        row.base_url = base_url
        if self._box.open(row.token) != token:
            row.token = self._box.seal(token)
        await self._session.flush()

    async def token(self, name: str) -> str | None:
        sealed = await self._session.scalar(select(ShopProviderRow.token)
                                            .where(ShopProviderRow.name == name))
        return self._box.open(sealed) if sealed is not None else None

    async def due(self, names: Iterable[str], now: datetime) -> list[tuple[str, datetime]]:
        rows = await self._session.execute(
            select(ShopProviderRow.name, ShopProviderRow.next_sync_at)
            .where(ShopProviderRow.name.in_(list(names)), ShopProviderRow.next_sync_at <= now))
        return [(name, at) for name, at in rows if at is not None]

    async def claim(self, name: str, due_at: datetime, next_at: datetime) -> bool:
        """Move a due sync to its next time; only the process whose update lands runs it."""
        result = await self._session.execute(
            bulk_update(ShopProviderRow)
            .where(ShopProviderRow.name == name, ShopProviderRow.next_sync_at == due_at)
            .values(next_sync_at=next_at))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def record(self, name: str, at: datetime, result: dict[str, Any] | None,
                     error: str | None) -> None:
        values: dict[str, Any] = ({"last_sync_at": at, "last_result": result, "last_error": None}
                                  if error is None else
                                  {"last_error": error[:1000], "last_error_at": at})
        await self._session.execute(bulk_update(ShopProviderRow)
                                    .where(ShopProviderRow.name == name).values(**values))

    async def schedule(self, name: str) -> SyncSchedule | None:
        row = await self._session.get(ShopProviderRow, name)
        return _schedule(row) if row is not None else None
