"""The composition root: builds engines, clients and services from settings.

Nothing else creates an engine or a client; tests build their own container with overrides.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis
import structlog

from proxyfleet.accounts.principals import PrincipalCache
from proxyfleet.accounts.service import AccountsService
from proxyfleet.core.instagram import InstagramAction, QuotaPolicy
from proxyfleet.gateway.egress import Resolver, SystemResolver, egress_for
from proxyfleet.gateway.instances import InstancePolicy, InstancesService
from proxyfleet.jobs.periodic import every
from proxyfleet.jobs.queue import (
    TaskQueue,
    build_broker,
    schedule_due_checks,
    schedule_due_sources,
)
from proxyfleet.jobs.tasks import TaskKeeper
from proxyfleet.pool.checkers import CheckerRegistry, Pipeline
from proxyfleet.pool.checking import CheckingPolicy, CheckingService
from proxyfleet.pool.fetch import ListFetcher
from proxyfleet.pool.health import Schedule
from proxyfleet.pool.inventory import InventoryService
from proxyfleet.pool.leasing import LeasingService
from proxyfleet.pool.manager import ManagerService
from proxyfleet.pool.parsers import ParserRegistry
from proxyfleet.pool.rotation import RotationService
from proxyfleet.pool.sources import SourcesService
from proxyfleet.sessions.client import ClientPolicy, InstagramClient
from proxyfleet.sessions.quotas import QuotaService
from proxyfleet.sessions.service import InstagramService, SessionPolicy
from proxyfleet.settings import Settings
from proxyfleet.storage import migrate
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.shared_counts import RedisHourCounter
from proxyfleet.storage.uow import Database

log = structlog.get_logger(__name__)

PING_TIMEOUT_SECONDS = 2.0


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
    rotation: RotationService
    manager: ManagerService
    quotas: QuotaService
    instagram_client: InstagramClient
    instagram: InstagramService

    async def start(self) -> None:
        await migrate.upgrade(self.database.engines)
        await self.queue.start()
        await self.instances.restore()
        await self.start_rotation()

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
        self.background.start("sweep:instagram-sessions", every(
            self.settings.instagram_cleanup_seconds, self.instagram.cleanup, "instagram"))
        self.start_consumer()

    def start_consumer(self) -> None:
        if self.queue.distributed:
            self.background.start("queue:consumer", self.queue.consume(self.stopping))

    async def schedule_due(self) -> int:
        return await schedule_due_sources(self.sources, self.queue)

    async def schedule_checks(self) -> int:
        return await schedule_due_checks(self.checking, self.queue)

    async def close(self) -> None:
        self.stopping.set()
        await self.background.stop()
        await self._last_flush()
        await self.instances.close()
        await self.instagram_client.close()
        await self.queue.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.dispose()

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
    database = Database.connect(settings.effective_database_url, secret_box(settings))
    redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    accounts = AccountsService(database, load_secret(settings),
                               signup_credits=settings.signup_credits,
                               principals=PrincipalCache(settings.auth_cache_seconds))
    parsers = ParserRegistry.load()
    inventory = InventoryService(database,
                                 count_cache_seconds=settings.count_cache_seconds)
    fetcher = ListFetcher(settings.source_fetch_timeout_seconds)
    sources = SourcesService(database, inventory, parsers, fetcher)
    checkers = CheckerRegistry.load()
    rotation = build_rotation(settings, database, redis)
    quotas = QuotaService(database, quota_policy(settings))
    client = InstagramClient(client_policy(settings))
    checking = CheckingService(database, Pipeline(checkers), settings.effective_judge_url,
                               checking_policy(settings), traffic=rotation.record)
    queue = TaskQueue(build_broker(settings.redis_url, f"{settings.redis_prefix}tasks"), sources,
                      checking)
    return Container(settings, database, redis, accounts, parsers, inventory, sources,
                     LeasingService(database), checkers, checking, queue, TaskKeeper(),
                     asyncio.Event(), build_instances(settings, database), rotation,
                     ManagerService(database, rotation), quotas, client,
                     InstagramService(database, quotas, client, rotation,
                                      session_policy(settings)))


async def migrate_database(settings: Settings) -> None:
    """Apply pending migrations and nothing else (before `serve` starts its workers)."""
    database = Database.connect(settings.effective_database_url, secret_box(settings))
    try:
        await migrate.upgrade(database.engines)
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
