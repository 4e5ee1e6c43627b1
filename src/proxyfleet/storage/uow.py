"""The unit of work: one transaction, its repositories, one commit.

Leaving the block without `commit()` rolls back. Repositories never commit.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proxyfleet.storage.accounts import AccountsRepository
from proxyfleet.storage.checks import ChecksRepository
from proxyfleet.storage.database import Engines, PoolSize
from proxyfleet.storage.events import (
    EventLog,
    NotifiersRepository,
    OutboxRepository,
    PoolWatchRepository,
)
from proxyfleet.storage.gateway import GatewayRepository
from proxyfleet.storage.gauges import GaugesRepository
from proxyfleet.storage.instagram import InstagramRepository
from proxyfleet.storage.instagram_sessions import InstagramSessionsRepository
from proxyfleet.storage.instances import InstancesRepository
from proxyfleet.storage.leases import LeasesRepository
from proxyfleet.storage.managed import ManagedRepository
from proxyfleet.storage.proxies import ProxiesRepository
from proxyfleet.storage.rotation import RotationRepository
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.sessions import SessionsRepository
from proxyfleet.storage.shop import CatalogueRepository, OrdersRepository, ProvidersRepository
from proxyfleet.storage.sources import SourcesRepository
from proxyfleet.storage.telegram import TelegramRepository


class UnitOfWork:
    accounts: AccountsRepository
    proxies: ProxiesRepository
    checks: ChecksRepository
    leases: LeasesRepository
    sources: SourcesRepository
    instances: InstancesRepository
    # Events added here are written with `commit()`, in the same transaction (the outbox).
    events: EventLog
    notifiers: NotifiersRepository
    outbox: OutboxRepository
    pool_watches: PoolWatchRepository
    gauges: GaugesRepository
    catalogue: CatalogueRepository
    orders: OrdersRepository
    providers: ProvidersRepository
    telegram: TelegramRepository
    gateway: GatewayRepository
    rotation: RotationRepository
    sessions: SessionsRepository
    managed: ManagedRepository
    instagram: InstagramRepository
    instagram_sessions: InstagramSessionsRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        # Seals and opens secrets at rest; repositories that store secrets take it.
        self.box = box
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self.accounts = AccountsRepository(self._session)
        self.proxies = ProxiesRepository(self._session, self.box)
        self.checks = ChecksRepository(self._session, self.box)
        self.events = EventLog(self._session)
        self.leases = LeasesRepository(self._session, self.accounts, self.box, self.events)
        self.sources = SourcesRepository(self._session)
        self.instances = InstancesRepository(self._session)
        self.notifiers = NotifiersRepository(self._session, self.box)
        self.outbox = OutboxRepository(self._session, self.box)
        self.pool_watches = PoolWatchRepository(self._session)
        self.gauges = GaugesRepository(self._session)
        self.catalogue = CatalogueRepository(self._session)
        self.orders = OrdersRepository(self._session, self.box)
        self.providers = ProvidersRepository(self._session, self.box)
        self.telegram = TelegramRepository(self._session)
        self.gateway = GatewayRepository(self._session)
        self.rotation = RotationRepository(self._session)
        self.sessions = SessionsRepository(self._session, self.box)
        self.managed = ManagedRepository(self._session, self.box, self.sessions)
        self.instagram = InstagramRepository(self._session)
        self.instagram_sessions = InstagramSessionsRepository(self._session, self.box)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None

    async def commit(self) -> None:
        """Write the events added to `events`, then commit them with the change."""
        assert self._session is not None
        await self.events.flush()
        await self._session.commit()


class Database:
    """Hands out units of work: readers for queries, writers for changes."""

    def __init__(self, engines: Engines, box: SecretBox) -> None:
        self.engines = engines
        self.box = box
        self._readers: async_sessionmaker[Any] = engines.sessions(write=False)
        self._writers: async_sessionmaker[Any] = engines.sessions(write=True)
        self._read_statements: async_sessionmaker[Any] = engines.sessions(write=False,
                                                                           autocommit=True)
        self._statements: async_sessionmaker[Any] = engines.sessions(write=True,
                                                                      autocommit=True)

    @classmethod
    def connect(cls, url: str, box: SecretBox, pool: PoolSize | None = None) -> Database:
        return cls(Engines.create(url, pool=pool), box)

    def reading(self) -> UnitOfWork:
        return UnitOfWork(self._readers, self.box)

    def writing(self) -> UnitOfWork:
        return UnitOfWork(self._writers, self.box)

    def reading_statements(self) -> UnitOfWork:
        """A reader for a look-up that is one statement: on PostgreSQL without the BEGIN and
        ROLLBACK round trips; on SQLite it is `reading()`."""
        return UnitOfWork(self._read_statements, self.box)

    def writing_statements(self) -> UnitOfWork:
        """A writer for use cases whose every write is one self-contained statement: on
        PostgreSQL each statement is its own transaction, which saves the BEGIN and COMMIT
        round trips; on SQLite it is `writing()`. `commit()` is still called (it is what
        commits on SQLite); leaving without it undoes only what is not yet committed."""
        return UnitOfWork(self._statements, self.box)

    @property
    def backend(self) -> str:
        return self.engines.backend.value

    async def ping(self) -> None:
        await self.engines.ping()

    async def dispose(self) -> None:
        await self.engines.dispose()
