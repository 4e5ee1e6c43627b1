"""The shop's use cases (seed 002): catalogue sync (scheduled and on demand), listing,
purchase, orders, refund, cleanup, stats. Commits here.

A purchase moves money in three steps: reserve (one transaction: a pending order, which the
unique product makes exclusive, and the debit of the buyer's `usd` balance, conditional, with
its ledger entry), buy upstream (outside any transaction: the provider may take seconds),
then commit (the order completed with its sealed credentials and the bought proxy added to
the inventory as the buyer's own). If the provider fails, the pending order is dropped and
the money released in one transaction: no charge, no order. An Idempotency-Key makes a
retried purchase find the first one's order (unique per buyer and key).

A refund gathers its evidence (the provider's status of the proxy, and proxyfleet's own
check through the bought credentials, twice) and then, in one transaction, records the refund
(its primary key is the order: at most once, whatever races it), credits the balance and
writes `shop.refunded`; a failed sync writes `shop.sync_failed` with its record. A bought
proxy is its buyer's private exit on the gateway (`owned_exit`).

Imports `core`, `shop` and the storage interfaces.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from proxyfleet.core.accounts import Currency, TxType
from proxyfleet.core.clock import isoformat_z, utcnow
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.proxies import ProxyAddress, ProxyOrigin, ProxyProtocol, ProxyStatus
from proxyfleet.core.shop import (
    CatalogueItem,
    CataloguePage,
    CatalogueQuery,
    Order,
    OrderCredentials,
    OrderState,
    Refund,
    RefundEvidence,
    ShopStats,
    SyncReport,
    SyncSchedule,
    UpstreamCredentials,
    UpstreamProduct,
)
from proxyfleet.shop.errors import (
    AlreadyRefunded,
    EvidenceUnavailable,
    InsufficientBalance,
    OrderNotFound,
    ProductNotFound,
    ProductSold,
    ProductUnavailable,
    PurchaseFailed,
    PurchaseInProgress,
    RefundNotAllowed,
    SyncFailed,
)
from proxyfleet.shop.providers import (
    ProductFilter,
    UpstreamError,
    UpstreamProductGone,
    UpstreamProvider,
)
from proxyfleet.shop.rules import (
    RefundRule,
    dollars,
    next_sync,
    order_number,
    plan_sync,
    refund_refusal,
)
from proxyfleet.storage import shop as shop_storage
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

# One check of a proxy through its credentials: alive (None: cannot tell) and what it found.
Probe = Callable[[ProxyAddress, float], Awaitable[tuple[bool | None, str]]]

MAX_SYNC_PAGES = 10_000
PENDING_POLL_SECONDS = 0.05
SECOND_CHECK_DELAY_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Reservation:
    """A pending order: the money is held, the provider not yet asked."""

    number: int
    user_id: uuid.UUID
    item: CatalogueItem
    price_cents: int
    created_at: datetime

    def completed(self, bought: UpstreamCredentials, expires_at: datetime,
                  inventory_id: uuid.UUID | None) -> Order:
        product = self.item.product
        return Order(
            number=self.number, user_id=self.user_id, product_id=self.item.id,
            provider=self.item.provider, proxy_id=product.proxy_id, country=product.country,
            isp=product.isp, price_cents=self.price_cents, state=OrderState.COMPLETED,
            created_at=self.created_at,
            credentials=OrderCredentials(bought.ip, bought.port, bought.login,
                                         bought.password),
            credentials_id=bought.credentials_id, expires_at=expires_at, refunded_at=None,
            inventory_id=inventory_id, proxy_status=ProxyStatus.UNCHECKED.value)


def refunded_event(order: Order, refund: Refund) -> Event:
    return Event(EventName.SHOP_REFUNDED, {
        "order_id": order.order_id, "user_id": str(refund.user_id),
        "amount": str(dollars(refund.amount_cents)), "amount_cents": refund.amount_cents,
        "currency": Currency.USD.value, "proxy_id": str(order.proxy_id),
        "refunded_at": isoformat_z(refund.created_at)})


@dataclass(frozen=True, slots=True)
class ShopPolicy:
    price_cents: int = 200
    sync_interval: timedelta = timedelta(minutes=5)
    sync_page_size: int = 100
    refund_window: timedelta = timedelta(hours=1)
    order_lifetime: timedelta = timedelta(days=30)
    own_check_seconds: float = 10.0
    # How long a retried purchase waits for the first one still asking the provider.
    pending_wait_seconds: float = 60.0


class ShopService:
    def __init__(self, database: Database, provider: UpstreamProvider, policy: ShopPolicy,
                 probe: Probe, *, base_url: str = "", token: str = "",
                 clock: Callable[[], datetime] = utcnow,
                 took_from_pool: Callable[[], Awaitable[None]] | None = None) -> None:
        """`took_from_pool`: told when a purchase made an inventory row that was already
        there the buyer's (the rotation's snapshot and the pool's counts are stale)."""
        self._db = database
        self._provider = provider
        self._policy = policy
        self._probe = probe
        self._base_url = base_url
        self._token = token
        self._now = clock
        self._took_from_pool = took_from_pool

    @property
    def provider_name(self) -> str:
        return self._provider.name

    @property
    def policy(self) -> ShopPolicy:
        return self._policy

    async def start(self) -> None:
        """Record the provider (its token sealed) and its schedule: the first sync is due."""
        async with self._db.writing() as uow:
            await uow.providers.ensure(self._provider.name, self._base_url, self._token,
                                       self._now())
            await uow.commit()

    async def close(self) -> None:
        await self._provider.close()

    # --- the catalogue ---------------------------------------------------------------------

    async def catalogue(self, query: CatalogueQuery) -> CataloguePage:
        async with self._db.reading() as uow:
            return await uow.catalogue.page(query)

    async def sync(self, country_code: str | None = None,
                   page_size: int | None = None) -> SyncReport:
        """Fetch the provider's online products page by page and bring the catalogue in line:
        add new, update changed, skip the same, remove the offline or vanished (never a sold
        one). A failed fetch changes nothing, is logged, recorded and raised as SyncFailed."""
        started = time.perf_counter()
        try:
            fetched, available = await self._fetch_all(
                ProductFilter(country_code=country_code), page_size or self._policy.sync_page_size)
        except UpstreamError as error:
            await self._record_failure(country_code, error.reason)
            log.error("shop sync failed", provider=self._provider.name, error=error.reason)
            raise SyncFailed(f"Sync with the upstream provider failed: {error.reason}",
                             {"provider": self._provider.name}) from None
        now = self._now()
        async with self._db.writing() as uow:
            plan = plan_sync(fetched, await uow.catalogue.known(self._provider.name,
                                                                country_code))
            await uow.catalogue.add_many(self._provider.name, plan.added, now)
            await uow.catalogue.update_many(plan.updated, now)
            await uow.catalogue.touch(plan.skipped, now)
            removed = await uow.catalogue.remove_unsold(plan.vanished)
            report = SyncReport(len(fetched), available, len(plan.added), len(plan.updated),
                                len(plan.skipped), removed, now)
            await uow.providers.record(self._provider.name, now, report.as_json(), None)
            await uow.commit()
        log.info("shop sync done", provider=self._provider.name, **report.as_json(),
                 seconds=round(time.perf_counter() - started, 3))
        return report

    async def _fetch_all(self, wanted: ProductFilter,
                         page_size: int) -> tuple[list[UpstreamProduct], int]:
        fetched: list[UpstreamProduct] = []
        available = 0
        for page in range(MAX_SYNC_PAGES):
            found = await self._provider.list_products(wanted, page, page_size)
            fetched += found.products
            available = found.total
            if not found.products or (page + 1) * page_size >= found.total:
                break
        return fetched, available

    async def _record_failure(self, country_code: str | None, error: str) -> None:
        """The failure on the provider's schedule and its `shop.sync_failed`, together."""
        async with self._db.writing() as uow:
            await uow.providers.record(self._provider.name, self._now(), None, error)
            uow.events.add(Event(EventName.SHOP_SYNC_FAILED, {
                "provider": self._provider.name, "country_code": country_code,
                "error": error}))
            await uow.commit()

    async def sync_if_due(self) -> SyncReport | None:
        """The scheduled sync: claimed in the database, so one process runs each interval."""
        now = self._now()
        async with self._db.writing() as uow:
            due = await uow.providers.due([self._provider.name], now)
            claimed = bool(due) and await uow.providers.claim(
                self._provider.name, due[0][1],
                next_sync(due[0][1], now, self._policy.sync_interval))
            await uow.commit()
        if not claimed:
            return None
        try:
            return await self.sync()
        except SyncFailed:
            return None  # logged and recorded; the next interval tries again

    async def schedule(self) -> SyncSchedule | None:
        async with self._db.reading() as uow:
            return await uow.providers.schedule(self._provider.name)

    async def cleanup(self) -> int:
        """Remove unsold products that are offline or that no sync has seen for two
        intervals; release purchases stuck pending past any provider's answer."""
        now = self._now()
        async with self._db.writing() as uow:
            removed = await uow.catalogue.remove_expired(
                self._provider.name, now - 2 * self._policy.sync_interval)
            await uow.commit()
        stuck_before = now - timedelta(seconds=self._policy.pending_wait_seconds * 2)
        async with self._db.reading() as uow:
            stuck = await uow.orders.stale_pending(stuck_before)
        for order in stuck:
            await self._release(order.number, order.user_id, order.price_cents)
        return removed

    async def stats(self) -> ShopStats:
        async with self._db.reading() as uow:
            for_sale, countries = await uow.catalogue.for_sale_totals()
            sold, refunded, revenue = await uow.orders.money()
            schedule = await uow.providers.schedule(self._provider.name)
        return ShopStats(for_sale, sold, refunded, revenue, countries,
                         schedule.last_run_at if schedule else None)

    # --- purchases -------------------------------------------------------------------------

    async def purchase(self, user_id: uuid.UUID, product_id: int,
                       idempotency_key: str | None = None) -> Order:
        if idempotency_key is not None:
            async with self._db.reading() as uow:
                earlier = await uow.orders.by_key(user_id, idempotency_key)
            if earlier is not None:
                return await self._settled(earlier, product_id)
        try:
            reserved = await self._reserve(user_id, product_id, idempotency_key)
        except (shop_storage.ProductTaken, ProductSold):
            # Sold to someone, or to this very buyer's concurrent retry (the same key).
            return await self._taken(user_id, product_id, idempotency_key)
        try:
            bought = await self._buy_upstream(reserved.item)
        except UpstreamError as error:
            await self._release(reserved.number, user_id, self._policy.price_cents)
            raise self._purchase_error(error, product_id) from None
        except BaseException:
            await asyncio.shield(self._release(reserved.number, user_id,
                                               self._policy.price_cents))
            raise
        return await self._complete(reserved, bought)

    @staticmethod
    def _for_sale(item: CatalogueItem | None, product_id: int) -> CatalogueItem:
        if item is None:
            raise ProductNotFound("Product not found.", {"product_id": product_id})
        if item.sold:
            raise ProductSold("This product has already been sold.", {"product_id": product_id})
        if not item.product.online:
            raise ProductUnavailable("This product is offline.", {"product_id": product_id})
        return item

    async def _reserve(self, user_id: uuid.UUID, product_id: int,
                       idempotency_key: str | None) -> Reservation:
        """One transaction: the product still for sale, a pending order naming it (the
        unique product settles races), the debit and its ledger entry."""
        price = self._policy.price_cents
        now = self._now()
        async with self._db.writing() as uow:
            item = self._for_sale(await uow.catalogue.item(product_id), product_id)
            number = await uow.orders.reserve(user_id, item, price, idempotency_key, now)
            moved = await uow.accounts.adjust(user_id, Currency.USD, -price)
            if moved is None:
                balance = await uow.accounts.balance(user_id, Currency.USD)
                raise InsufficientBalance(
                    f"Insufficient balance: this proxy costs ${dollars(price)}, your balance "
                    f"is ${dollars(balance)}.",
                    {"required": str(dollars(price)), "balance": str(dollars(balance))})
            await uow.accounts.append(user_id, Currency.USD, -price, moved, TxType.ORDER,
                                      f"Order ORD-{number}: proxy {item.product.proxy_id}", now)
            await uow.commit()
        return Reservation(number, user_id, item, price, now)

    async def _taken(self, user_id: uuid.UUID, product_id: int,
                     idempotency_key: str | None) -> Order:
        """A reservation lost a race: to this buyer's own retry (same key), or to a sale."""
        if idempotency_key is not None:
            async with self._db.reading() as uow:
                earlier = await uow.orders.by_key(user_id, idempotency_key)
            if earlier is not None:
                return await self._settled(earlier, product_id)
        raise ProductSold("This product has already been sold.", {"product_id": product_id})

    async def _settled(self, order: Order, product_id: int) -> Order:
        """The order a retried purchase gets: the first one's, once it is completed."""
        deadline = time.monotonic() + self._policy.pending_wait_seconds
        current: Order | None = order
        while current is not None and current.state is OrderState.PENDING:
            if time.monotonic() > deadline:
                raise PurchaseInProgress("A purchase with this Idempotency-Key is still in "
                                         "progress; retry in a moment.",
                                         {"order_id": current.order_id})
            await asyncio.sleep(PENDING_POLL_SECONDS)
            async with self._db.reading() as uow:
                current = await uow.orders.get(order.number)
        if current is None:
            raise PurchaseFailed("The first purchase with this Idempotency-Key failed and "
                                 "charged nothing; retry with a new key.",
                                 {"product_id": product_id})
        return current

    async def _buy_upstream(self, item: CatalogueItem) -> UpstreamCredentials:
        # The catalogue can be an interval old: ask that it is still there and online.
        current = await self._provider.product(item.upstream_product_id)
        if not current.online:
            raise UpstreamProductGone("the product is offline at the provider")
        return await self._provider.buy(item.upstream_product_id)

    def _purchase_error(self, error: UpstreamError, product_id: int) -> Exception:
        details = {"product_id": product_id, "reason": error.reason}
        if isinstance(error, UpstreamProductGone):
            return ProductUnavailable(f"This product is no longer available at the provider "
                                      f"({error.reason}). You were not charged.", details)
        return PurchaseFailed(f"The upstream provider could not complete the purchase: "
                              f"{error.reason}. You were not charged.", details)

    async def _release(self, number: int, user_id: uuid.UUID, price: int) -> None:
        """Drop a pending order and give its money back, in one transaction."""
        async with self._db.writing() as uow:
            if await uow.orders.drop_pending(number):
                moved = await uow.accounts.adjust(user_id, Currency.USD, price)
                assert moved is not None  # a credit always applies
                await uow.accounts.append(user_id, Currency.USD, price, moved,
                                          TxType.ADJUSTMENT,
                                          f"Order ORD-{number} not bought: money released",
                                          self._now())
                await uow.commit()

    async def _complete(self, reserved: Reservation, bought: UpstreamCredentials) -> Order:
        now = self._now()
        expires_at = bought.expires_at or now + self._policy.order_lifetime
        address = ProxyAddress(bought.ip, bought.port, ProxyProtocol.SOCKS5, bought.login,
                               bought.password)
        async with self._db.writing() as uow:
            inventory_id, new = await uow.proxies.add_private(address, ProxyOrigin.PROVIDER,
                                                              now)
            if not new:  # the endpoint was in the inventory: its row is this buyer's now
                await uow.orders.unlink_inventory(inventory_id)
            await uow.orders.complete(reserved.number, bought, expires_at, inventory_id)
            await uow.commit()
        if not new and self._took_from_pool is not None:
            await self._took_from_pool()  # out of this process's hand-outs at once
        order = reserved.completed(bought, expires_at, inventory_id)
        log.info("shop purchase", order_id=order.order_id, user_id=str(order.user_id),
                 proxy_id=order.proxy_id)
        return order

    def refundable(self, order: Order) -> bool:
        """Whether the refund window is still open (the proxy must also be offline then)."""
        return (order.refunded_at is None
                and self._now() - order.created_at <= self._policy.refund_window)

    async def owned_exit(self, user_id: uuid.UUID, order_number: int) -> uuid.UUID | None:
        """The inventory row of the proxy bought under this order, for the gateway's private
        exit: only to its buyer, while the order is completed, not refunded, not expired."""
        async with self._db.reading() as uow:
            order = await uow.orders.get(order_number)
        if order is None or order.user_id != user_id or order.state is not OrderState.COMPLETED \
                or order.refunded_at is not None \
                or (order.expires_at is not None and order.expires_at <= self._now()):
            return None
        return order.inventory_id

    async def orders(self, user_id: uuid.UUID) -> list[Order]:
        async with self._db.reading() as uow:
            return await uow.orders.of_user(user_id)

    # --- refunds ---------------------------------------------------------------------------

    async def refund(self, user_id: uuid.UUID, order_id: str) -> Refund:
        order = await self._own_order(user_id, order_id)
        now = self._now()
        refusal = refund_refusal(order, now, self._policy.refund_window)
        if refusal == RefundRule.ALREADY_REFUNDED:
            raise AlreadyRefunded(refusal, {"order_id": order.order_id})
        if refusal is not None:
            raise RefundNotAllowed(refusal, {"order_id": order.order_id})
        evidence = await self._evidence(order)
        if not evidence.offline:
            if evidence.upstream_status is None and not evidence.own_checks:
                raise EvidenceUnavailable("Cannot tell whether the proxy is offline right now "
                                          "(neither the provider nor our check answered); "
                                          "try again later.",
                                          {"order_id": order.order_id, **evidence.as_json()})
            raise RefundNotAllowed(RefundRule.ONLINE,
                                   {"order_id": order.order_id, **evidence.as_json()})
        refund = Refund(order.number, user_id, order.price_cents, evidence, self._now())
        try:
            async with self._db.writing() as uow:
                await uow.orders.add_refund(refund)
                await uow.accounts.move(user_id, Currency.USD, order.price_cents,
                                        TxType.REFUND, f"Refund of {order.order_id}",
                                        refund.created_at)
                uow.events.add(refunded_event(order, refund))
                await uow.commit()
        except shop_storage.AlreadyRefunded:
            raise AlreadyRefunded(RefundRule.ALREADY_REFUNDED,
                                  {"order_id": order.order_id}) from None
        log.info("shop refund", order_id=order.order_id, **evidence.as_json())
        return refund

    async def _own_order(self, user_id: uuid.UUID, order_id: str) -> Order:
        number = order_number(order_id)
        if number is not None:
            async with self._db.reading() as uow:
                order = await uow.orders.get(number)
            if order is not None and order.user_id == user_id:
                return order
        raise OrderNotFound("Order not found.", {"order_id": order_id})

    async def _evidence(self, order: Order) -> RefundEvidence:
        (status, upstream_error), (checks, errors) = await asyncio.gather(
            self._upstream_status(order), self._own_checks(order))
        return RefundEvidence(status, upstream_error, checks, errors)

    async def _upstream_status(self, order: Order) -> tuple[int | None, str | None]:
        try:
            return await self._provider.proxy_status(order.proxy_id), None
        except UpstreamError as error:
            return None, error.reason

    async def _own_checks(self, order: Order) -> tuple[tuple[bool, ...], tuple[str, ...]]:
        """Up to two checks through the bought credentials; a pass ends them."""
        if order.credentials is None:
            return (), ("no credentials",)
        creds = order.credentials
        address = ProxyAddress(creds.ip, creds.port, ProxyProtocol.SOCKS5, creds.login,
                               creds.password)
        checks: list[bool] = []
        errors: list[str] = []
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(SECOND_CHECK_DELAY_SECONDS)
            alive, detail = await self._probe(address, self._policy.own_check_seconds)
            if alive is None:
                errors.append(detail)
                break
            checks.append(alive)
            if not alive:
                errors.append(detail)
            else:
                break
        return tuple(checks), tuple(errors)
