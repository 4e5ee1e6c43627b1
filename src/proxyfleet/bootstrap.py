"""The composition root: builds engines, clients and services from settings.

Nothing else creates an engine or a client; tests build their own container with overrides.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis
import structlog

from proxyfleet.accounts.principals import PrincipalCache
from proxyfleet.accounts.service import AccountsService
from proxyfleet.accounts.telegram import TelegramService
from proxyfleet.core.clock import utcnow
from proxyfleet.core.instagram import InstagramAction, QuotaPolicy
from proxyfleet.core.limits import Caps, Limiter, MemoryLimiter
from proxyfleet.core.notifiers import DeliveryOutcome
from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.gateway.egress import (
    EgressMode,
    Resolver,
    SystemResolver,
    egress_for,
    parse_prefix,
)
from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.instances import InstancePolicy, InstancesService
from proxyfleet.jobs.closing import close_in_order
from proxyfleet.jobs.periodic import every
from proxyfleet.jobs.queue import (
    TaskQueue,
    build_broker,
    schedule_due_checks,
    schedule_due_sources,
)
from proxyfleet.jobs.tasks import TaskKeeper
from proxyfleet.metrics import DatabaseGauges, Metrics
from proxyfleet.notify.delivery import DeliveryPolicy, DeliveryWorker
from proxyfleet.notify.notifiers import NotifierEnvironment, NotifierRegistry
from proxyfleet.notify.rules import Backoff, Hysteresis
from proxyfleet.notify.service import NotifiersService
from proxyfleet.notify.watch import PoolWatchService, WatchedPool
from proxyfleet.pool.checkers import CheckerRegistry, Pipeline
from proxyfleet.pool.checking import CheckingPolicy, CheckingService
from proxyfleet.pool.fetch import ListFetcher
from proxyfleet.pool.health import Schedule
from proxyfleet.pool.inventory import InventoryService
from proxyfleet.pool.leasing import LeasingService
from proxyfleet.pool.manager import ManagerService
from proxyfleet.pool.parsers import ParserRegistry
from proxyfleet.pool.reach_bounds import ReachBounds
from proxyfleet.pool.rotation import RotationService
from proxyfleet.pool.sources import SourcesService
from proxyfleet.rotating.bans import BanList
from proxyfleet.rotating.limits import UsageTally
from proxyfleet.rotating.owned import OwnedExits
from proxyfleet.rotating.router import GatewayPolicy, GatewayRouter, Rotation
from proxyfleet.rotating.service import GatewayService
from proxyfleet.sessions.client import ClientPolicy, InstagramClient
from proxyfleet.sessions.quotas import QuotaService
from proxyfleet.sessions.service import InstagramService, SessionPolicy
from proxyfleet.settings import Settings
from proxyfleet.shop.providers import ProviderConfig, ProviderRegistry
from proxyfleet.shop.service import ShopPolicy, ShopService
from proxyfleet.storage import migrate
from proxyfleet.storage.database import PoolSize
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.shared_counts import RedisHourCounter, RedisLimiter
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

# The most one part may take to close (a flush, a pool of connections) before it is left behind.
CLOSE_STEP_SECONDS = 10.0

PING_TIMEOUT_SECONDS = 2.0
# How often a consumer trims acknowledged entries from the task stream and drops consumers
# of processes gone.
QUEUE_TIDY_SECONDS = 60.0


def load_secret(settings: Settings) -> bytes:
    """The configured secret, or one kept in data_dir/secret.key (made on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    return path.read_text().strip().encode()


def secret_box(settings: Settings) -> SecretBox:
    """The box that seals secrets at rest, under the secret key (and opens what earlier keys
    sealed, for rotation)."""
    previous = [key.get_secret_value().encode() for key in settings.previous_secret_keys]
    return SecretBox(load_secret(settings), previous)


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first; use theirs
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


@dataclass
class DependencyStatus:
    database: str
    redis: str

    @property
    def healthy(self) -> bool:
        return self.database == "connected" and self.redis in {"connected", "not_configured"}


@dataclass
class Container:
    settings: Settings
    database: Database
    redis: aioredis.Redis | None
    accounts: AccountsService
    parsers: ParserRegistry
    inventory: InventoryService
    sources: SourcesService
    leasing: LeasingService
    checkers: CheckerRegistry
    checking: CheckingService
    queue: TaskQueue
    background: TaskKeeper
    stopping: asyncio.Event
    instances: InstancesService
    notifiers: NotifiersService
    delivery: DeliveryWorker
    pool_watch: PoolWatchService
    metrics: Metrics
    shop: ShopService
    telegram: TelegramService
    rotation: RotationService
    manager: ManagerService
    gateway: GatewayService
    quotas: QuotaService
    instagram_client: InstagramClient
    instagram: InstagramService
    # Whether this process runs the shop's scheduled sync (`start_background` was called).
    shop_scheduler_running: bool = False

    async def start(self) -> None:
        await migrate.upgrade(self.database.engines, self.database.box)
        await self.queue.start()
        await self.instances.restore()
        await self.shop.start()
        await self.start_rotation()
        self.background.start("limits:reach", self.checking.reach_bounds.limiter.run())

    async def start_rotation(self) -> None:
        """Every process that hands out proxies keeps the rotation's snapshot fresh and
        flushes its counters."""
        await self.rotation.refresh()
        rotation, settings = self.rotation, self.settings
        self.background.start("rotation:refresh", every(
            settings.rotation_refresh_seconds, rotation.refresh_quietly, "rotation-refresh"))
        self.background.start("rotation:flush", every(
            settings.rotation_flush_seconds, rotation.flush_quietly, "rotation-flush"))

    def start_background(self) -> None:
        """The jobs `proxyfleet serve` runs beside the API: the source schedule, the lease
        sweep, and (with Redis) a consumer of the shared task stream."""
        tick = self.settings.scheduler_tick_seconds
        self.background.start("scheduler:sources", every(tick, self.schedule_due, "sources"))
        self.background.start("sweep:leases", every(tick, self.leasing.expire_due, "leases"))
        if self.settings.checking_enabled:
            self.background.start("scheduler:checks", every(tick, self.schedule_checks, "checks"))
        self.background.start("sweep:ipv6-instances", every(
            self.settings.instance_ttl_sweep_seconds, self.instances.expire_due, "instances"))
        if self.settings.notify_enabled:
            self.background.start("notify:deliver", every(
                self.settings.notify_poll_seconds, self.delivery.run_once, "notify"))
        self.background.start("watch:pools", every(
            self.settings.pool_watch_seconds, self.pool_watch.check, "pool watch"))
        if self.settings.shop_upstream_token.get_secret_value():  # a shop is configured
            # Every process ticks; the claim in the database lets one run each interval's sync.
            self.background.start("scheduler:shop-sync",
                                  every(tick, self.shop.sync_if_due, "shop"))
            self.shop_scheduler_running = True
        self.background.start("sweep:instagram-sessions", every(
            self.settings.instagram_cleanup_seconds, self.instagram.cleanup, "instagram"))
        self.start_consumer()

    def start_consumer(self) -> None:
        if self.queue.distributed:
            self.background.start("queue:consumer", self.queue.consume(self.stopping))
            self.background.start("queue:tidy", every(
                QUEUE_TIDY_SECONDS, self.queue.tidy, "queue-tidy"))

    async def schedule_due(self) -> int:
        return await schedule_due_sources(self.sources, self.queue)

    async def schedule_checks(self) -> int:
        return await schedule_due_checks(self.checking, self.queue)

    async def metrics_exposition(self) -> bytes:
        """GET /metrics: the counters, and the gauges read from the database now."""
        self.gateway.count_traffic()
        async with self.database.reading() as uow:
            gauges = DatabaseGauges(await uow.gauges.proxies(),
                                    await uow.gauges.live_leases(utcnow()),
                                    await uow.gauges.deliveries_waiting())
        return self.metrics.exposition(gauges)
    async def start_gateway(self) -> None:
        """Listen as the rotating gateway (`serve` does, and `proxyfleet gateway` alone)."""
        await self.gateway.start()

    async def close(self) -> None:
        """Stop serving and close every part, in order, each step bounded (a hung step is
        logged and left behind, so a stopping process always stops)."""
        self.stopping.set()
        redis = self.redis
        await close_in_order([
            ("gateway", self.gateway.close),
            ("background tasks", self.background.stop),
            ("rotation flush", self._last_flush),
            ("ipv6 instances", self.instances.close),
            ("shop", self.shop.close),
            ("notifiers", self.notifiers.close),
            ("instagram client", self.instagram_client.close),
            ("task queue", self.queue.close),
            *([("redis", redis.aclose)] if redis is not None else []),
            ("database", self.database.dispose),
        ], CLOSE_STEP_SECONDS)

    async def _last_flush(self) -> None:
        try:
            await self.rotation.flush()
        # Whatever the driver raises, closing goes on; the outcomes are lost and logged.
        except Exception as exc:
            log.warning("rotation counters not stored at close", error=str(exc))

    async def dependencies(self) -> DependencyStatus:
        return DependencyStatus(await self._ping_database(), await self._ping_redis())

    async def _ping_database(self) -> str:
        try:
            await asyncio.wait_for(self.database.ping(), PING_TIMEOUT_SECONDS)
        # Drivers raise their own error types for a refused or dropped connection; whatever
        # the ping raises, the database is not answering.
        except Exception as exc:
            log.warning("database unreachable", error=str(exc))
            return "unreachable"
        return "connected"

    async def _ping_redis(self) -> str:
        if self.redis is None:
            return "not_configured"
        try:
            await asyncio.wait_for(self.redis.ping(), PING_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, aioredis.RedisError) as exc:
            log.warning("redis unreachable", error=str(exc))
            return "unreachable"
        return "connected"


def build(settings: Settings) -> Container:
    database = Database.connect(settings.effective_database_url, secret_box(settings),
                                PoolSize(settings.database_pool_size,
                                         settings.database_pool_kept))
    redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    accounts = AccountsService(database, load_secret(settings),
                               signup_credits=settings.signup_credits,
                               principals=PrincipalCache(settings.auth_cache_seconds),
                               credits_low_threshold=settings.credits_low_threshold)
    parsers = ParserRegistry.load()
    inventory = InventoryService(database,
                                 count_cache_seconds=settings.count_cache_seconds)
    fetcher = ListFetcher(settings.source_fetch_timeout_seconds)
    metrics = Metrics()
    sources = SourcesService(database, inventory, parsers, fetcher,
                             failure_limit=settings.source_failure_limit, metrics=metrics)
    checkers = CheckerRegistry.load()
    rotation = build_rotation(settings, database, redis)
    quotas = QuotaService(database, quota_policy(settings))
    client = InstagramClient(client_policy(settings))
    checking = CheckingService(database, Pipeline(checkers), settings.effective_judge_url,
                               checking_policy(settings), reach_bounds=ReachBounds(
                                   build_limiter(settings, redis, "reach", Caps(
                                       settings.reach_concurrent_tests,
                                       settings.reach_fetches_per_minute))), metrics=metrics,
                               on_write=inventory.forget_counts, traffic=rotation.record)
    redelivery = checking_policy(settings).claim_hold.total_seconds()
    queue = TaskQueue(build_broker(settings.redis_url, f"{settings.redis_prefix}tasks",
                                   redelivery_seconds=redelivery), sources, checking)
    notifiers = NotifiersService(database, NotifierRegistry.load(),
                                 NotifierEnvironment.create(settings.telegram_api_url))
    telegram = TelegramService(database, accounts, registration_open=settings.registration_open)
    shop = build_shop(settings, database, checking,
                      took_from_pool=partial(_pool_changed, inventory, rotation))
    return Container(settings, database, redis, accounts, parsers, inventory, sources,
                     LeasingService(database,
                                    credits_low_threshold=settings.credits_low_threshold,
                                    metrics=metrics),
                     checkers, checking, queue, TaskKeeper(),
                     asyncio.Event(), build_instances(settings, database),
                     notifiers=notifiers,
                     delivery=DeliveryWorker(database, notifiers, delivery_policy(settings),
                                             observe=partial(_count_delivery, metrics)),
                     pool_watch=PoolWatchService(database, watched_pools(settings)),
                     metrics=metrics, shop=shop,
                     telegram=telegram, rotation=rotation,
                     manager=ManagerService(database, rotation),
                     gateway=build_gateway(settings, database, accounts, rotation, redis,
                                           owned=shop, metrics=metrics),
                     quotas=quotas, instagram_client=client,
                     instagram=InstagramService(database, quotas, client, rotation,
                                                session_policy(settings)))


def _count_delivery(metrics: Metrics, outcome: DeliveryOutcome) -> None:
    notifier = outcome.delivery.notifier
    metrics.delivery(str(notifier.id), notifier.plugin, outcome.succeeded)


async def migrate_database(settings: Settings) -> None:
    """Apply pending migrations and nothing else (before `serve` starts its workers)."""
    database = Database.connect(settings.effective_database_url, secret_box(settings))
    try:
        await migrate.upgrade(database.engines, database.box)
    finally:
        await database.dispose()


def checking_policy(settings: Settings) -> CheckingPolicy:
    return CheckingPolicy(
        concurrency=settings.check_concurrency, timeout_seconds=settings.check_timeout_seconds,
        window_size=settings.health_window_size, history_per_proxy=settings.check_history_size,
        batch_size=settings.check_batch_size,
        schedule=Schedule(healthy=timedelta(seconds=settings.recheck_healthy_seconds),
                          retry_base=timedelta(seconds=settings.recheck_retry_seconds),
                          retry_max=timedelta(seconds=settings.recheck_max_backoff_seconds),
                          forget_after=timedelta(days=settings.forget_dead_after_days)))


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        batch_size=settings.notify_batch_size,
        claim=timedelta(seconds=settings.notify_claim_seconds),
        backoff=Backoff(timedelta(seconds=settings.notify_retry_first_seconds),
                        timedelta(seconds=settings.notify_retry_max_seconds),
                        settings.notify_max_attempts),
        keep=timedelta(days=settings.notify_keep_days))


def watched_pools(settings: Settings) -> list[WatchedPool]:
    return [WatchedPool(watch.name, Hysteresis(watch.low, watch.recover),
                        ProxyProtocol(watch.protocol) if watch.protocol else None,
                        watch.country,
                        Anonymity(watch.anonymity) if watch.anonymity else None)
            for watch in settings.pool_watches]
def build_rotation(settings: Settings, database: Database,
                   redis: aioredis.Redis | None) -> RotationService:
    """The one rotation service; with Redis, hourly budgets are counted there too."""
    hours = RedisHourCounter(redis, f"{settings.redis_prefix}rotation:hour:") if redis else None
    return RotationService(database, hour_counter=hours)


def quota_policy(settings: Settings) -> QuotaPolicy:
    """Seed 003's limits and cool-offs, from the settings."""
    per_hour = {InstagramAction.FOLLOW: settings.instagram_follow_limit_per_hour,
                InstagramAction.LIKE: settings.instagram_like_limit_per_hour,
                InstagramAction.COMMENT: settings.instagram_comment_limit_per_hour}
    return QuotaPolicy(
        per_day={InstagramAction.FOLLOW: settings.instagram_follow_limit_per_day,
                 InstagramAction.LIKE: settings.instagram_like_limit_per_day,
                 InstagramAction.COMMENT: settings.instagram_comment_limit_per_day},
        per_hour={action: cap for action, cap in per_hour.items() if cap is not None},
        min_gap=timedelta(seconds=settings.instagram_min_gap_seconds),
        gap_jitter=timedelta(seconds=settings.instagram_gap_jitter_seconds),
        feedback_cooloff=timedelta(hours=settings.instagram_feedback_cooloff_hours),
        please_wait_cooloff=timedelta(hours=settings.instagram_please_wait_cooloff_hours))


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        expiry_hours=settings.instagram_session_expiry_hours,
        accounts_per_proxy=settings.instagram_accounts_per_proxy,
        shared_proxies=settings.instagram_shared_proxies,
        suspect_accounts=settings.instagram_suspect_accounts,
        suspect_window=timedelta(minutes=settings.instagram_suspect_window_minutes))


def client_policy(settings: Settings) -> ClientPolicy:
    return ClientPolicy(settings.instagram_base_url,
                        timeout_seconds=settings.instagram_timeout_seconds,
                        max_attempts=settings.instagram_max_attempts,
                        backoff_base_seconds=settings.instagram_backoff_base_seconds,
                        backoff_cap_seconds=settings.instagram_backoff_cap_seconds)


def build_instances(settings: Settings, database: Database,
                    resolver: Resolver | None = None) -> InstancesService:
    """The IPv6 egress instances of seed 004; tests pass their own resolver."""
    policy = InstancePolicy(settings.ipv6_prefixes, settings.instance_ports)
    return InstancesService(database, egress_for(settings.ipv6_mode),
                            resolver or SystemResolver(), policy)


async def _pool_changed(inventory: InventoryService, rotation: RotationService) -> None:
    inventory.forget_counts()
    await rotation.refresh()


def build_shop(settings: Settings, database: Database, checking: CheckingService,
               providers: ProviderRegistry | None = None,
               took_from_pool: Callable[[], Awaitable[None]] | None = None) -> ShopService:
    """The reseller shop over the configured upstream provider; its refunds' own checks run
    through the checking pipeline."""
    token = settings.shop_upstream_token.get_secret_value()
    config = ProviderConfig(settings.shop_upstream_url, token,
                            settings.shop_upstream_timeout_seconds)
    provider = (providers or ProviderRegistry.load()).create(settings.shop_upstream_provider,
                                                             config)
    policy = ShopPolicy(
        price_cents=settings.shop_price_cents,
        sync_interval=timedelta(minutes=settings.shop_sync_interval_minutes),
        sync_page_size=settings.shop_sync_page_size,
        refund_window=timedelta(minutes=settings.shop_refund_window_minutes),
        order_lifetime=timedelta(days=settings.shop_order_days),
        own_check_seconds=settings.shop_own_check_timeout_seconds,
        pending_wait_seconds=settings.shop_upstream_timeout_seconds * 2 + 5)
    return ShopService(database, provider, policy, checking.probe,
                       base_url=settings.shop_upstream_url, token=token,
                       took_from_pool=took_from_pool)
def build_gateway(settings: Settings, database: Database, accounts: AccountsService,
                  rotation: Rotation, redis: aioredis.Redis | None = None,
                  resolver: Resolver | None = None, owned: OwnedExits | None = None,
                  metrics: Metrics | None = None) -> GatewayService:
    """The rotating gateway over the accounts and the rotation service (not yet listening);
    with Redis, its per-user caps are shared there; `owned`: the shop, whose buyers may go out
    through the proxies they bought; `metrics`: where its traffic is counted for `/metrics`."""
    caps = Caps(settings.gateway_user_max_connections, settings.gateway_user_requests_per_minute)
    return GatewayService(database, GatewayRouter(
        accounts, rotation, gateway_policy(settings),
        build_limiter(settings, redis, "gateway", caps),
        UsageTally(), BanList(settings.gateway_ban_statuses, settings.gateway_ban_seconds),
        resolver=resolver or SystemResolver(), egress=egress_for(settings.ipv6_mode),
        owned=owned),
        gateway_listener(settings), flush_seconds=settings.gateway_flush_seconds,
        metrics=metrics)


def build_limiter(settings: Settings, redis: aioredis.Redis | None, name: str,
                  caps: Caps) -> Limiter:
    """Per-user limits: shared through Redis when it is configured, else in the process."""
    if redis is None:
        return MemoryLimiter(caps)
    return RedisLimiter(redis, f"{settings.redis_prefix}limits:{name}:", caps)


def gateway_policy(settings: Settings) -> GatewayPolicy:
    prefix, interface = None, None
    if settings.ipv6_prefixes and settings.ipv6_mode is EgressMode.ANYIP:
        interface = settings.gateway_ipv6_interface or next(iter(settings.ipv6_prefixes))
        prefix = parse_prefix(settings.ipv6_prefixes[interface])
    return GatewayPolicy(require_credentials=settings.gateway_require_credentials,
                         failover_attempts=settings.gateway_failover_attempts,
                         upstream_timeout=settings.gateway_upstream_timeout_seconds,
                         exit_header=settings.gateway_exit_header, ipv6_prefix=prefix,
                         ipv6_interface=interface)


def gateway_listener(settings: Settings) -> ListenerConfig:
    attempts = settings.gateway_failover_attempts
    return ListenerConfig(
        host=settings.gateway_host, port=settings.gateway_port,
        protocols=frozenset(ListenerProtocol),
        # Every failover attempt has its own time; the whole dial bounds them all.
        connect_timeout=attempts * settings.gateway_upstream_timeout_seconds + 1.0,
        idle_timeout=settings.gateway_idle_timeout_seconds,
        max_connections=settings.gateway_max_connections,
        reuse_port=settings.workers > 1)
