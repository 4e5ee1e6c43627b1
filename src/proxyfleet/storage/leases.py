"""Repository for leases. Exclusivity is the database's job: a partial unique index allows one
live lease per proxy; on PostgreSQL candidates are also locked with SKIP LOCKED so concurrent
acquires spread over proxies instead of queueing on the best one. Never commits.

The statements of acquire and release run on every request: they are Core statements on the
tables, built once (or once per filter) with bind parameters. ORM-enabled statements load
entities, synchronise the session and compute a cache key per call, which cost more CPU than
the statement's round trip. On PostgreSQL a grant (candidate, debit, lease, ledger entry) is
one statement, so it needs no transaction around it: one round trip instead of six.

Lease times are taken once the proxy is ours to lease, so that a lease never starts before
its predecessor's end: on PostgreSQL from the database's clock inside the statement
(`now()`: in autocommit, the statement's start, which follows the commit of any release or
lease it saw), on SQLite from the caller's clock after `BEGIN IMMEDIATE` has the write lock.
The same holds for a release's end."""

from __future__ import annotations

import enum
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import INTERVAL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.accounts import Currency, TxType
from proxyfleet.core.clock import isoformat_z
from proxyfleet.core.events import Event, EventName
from proxyfleet.core.leases import Lease, LeaseEnd, LeaseGrant
from proxyfleet.core.proxies import Proxy, ProxyFilter, ProxyStatus
from proxyfleet.storage.accounts import BALANCES, LEDGER, AccountsRepository
from proxyfleet.storage.events import EventLog
from proxyfleet.storage.proxies import PROXIES, filter_clauses, proxy_of
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import LeaseRow, ProxyRow

LEASES = typing.cast(Table, LeaseRow.__table__)
# Filters seen recently keep their built candidate query (a filter with `verified_since`
# is new every time, so the cache is bounded).
CANDIDATE_QUERIES = 256

_at = bindparam("at", type_=LEASES.c.expires_at.type)
_END_EXPIRED = (
    update(LEASES)
    .where(LEASES.c.proxy_id == bindparam("proxy"), LEASES.c.released_at.is_(None),
           LEASES.c.expires_at <= _at)
    .values(released_at=LEASES.c.expires_at, end_reason=LeaseEnd.EXPIRED.value)
    .returning(LEASES.c.id, LEASES.c.user_id, LEASES.c.proxy_id, LEASES.c.expires_at))
_RELEASE = (
    update(LEASES)
    .where(LEASES.c.id == bindparam("lease"), LEASES.c.user_id == bindparam("owner"),
           LEASES.c.released_at.is_(None), LEASES.c.expires_at > _at)
    .values(released_at=_at, end_reason=LeaseEnd.RELEASED.value))
# PostgreSQL: the release locks its proxy's row, as a grant does, and reads the clock after;
# a grant that might follow it either waits behind it (and then starts later) or skips the
# proxy, so no lease starts before the end of the one it follows.
_RELEASED_PROXY = (
    select(PROXIES.c.id)
    .where(PROXIES.c.id == select(LEASES.c.proxy_id)
           .where(LEASES.c.id == bindparam("lease")).scalar_subquery())
    .with_for_update(of=PROXIES, key_share=False, read=False, nowait=False)
    .cte("released_proxy"))
_RELEASE_NOW = (
    update(LEASES)
    .where(LEASES.c.id == bindparam("lease"), LEASES.c.user_id == bindparam("owner"),
           LEASES.c.released_at.is_(None), LEASES.c.expires_at > func.now(),
           LEASES.c.proxy_id.in_(select(_RELEASED_PROXY.c.id)))
    .values(released_at=func.clock_timestamp(), end_reason=LeaseEnd.RELEASED.value)
    .returning(LEASES.c.released_at))
_OWNER = select(LEASES.c.user_id).where(LEASES.c.id == bindparam("lease"))
Clock = Callable[[], datetime]
# What a lease may take: alive, shared (private proxies are their sessions' alone) and not
# disabled by an admin.
HANDED_OUT = (PROXIES.c.status == ProxyStatus.ACTIVE.value, PROXIES.c.shared.is_(True),
              PROXIES.c.is_active.is_(True))


class LeaseTaken(Exception):
    """Another transaction leased the proxy first (or its expired lease had to be ended
    first); nothing was written and the caller tries again."""


class ReleaseOutcome(enum.Enum):
    RELEASED = "released"
    NOT_FOUND = "not_found"
    NOT_LIVE = "not_live"


@dataclass(frozen=True, slots=True)
class Candidate:
    proxy: Proxy
    # The proxy's last lease is over by time but not yet recorded as ended: it must be ended
    # before a new lease can be inserted (one live lease per proxy).
    carries_expired_lease: bool


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    lease_id: uuid.UUID
    user_id: uuid.UUID
    wanted: ProxyFilter
    duration: timedelta
    price: int
    description: str  # of the ledger entry, before the proxy's address
    idempotency_key: str | None = None
    """The client's key for this acquire: a second lease under it is a lost race."""


@dataclass(frozen=True, slots=True)
class GrantAttempt:
    """What one try at a lease did: `balance_after` is set when the lease, the debit and
    its ledger entry were written (at `created_at`); otherwise nothing was, and `candidate`
    is the free proxy the balance could not pay for, or None when no proxy was free."""

    candidate: Candidate | None
    balance_after: int | None
    created_at: datetime | None = None


@lru_cache(maxsize=CANDIDATE_QUERIES)
def _candidate_query(wanted: ProxyFilter, lock: bool) -> Select[tuple[object, ...]]:
    """The best free proxy; with `lock` (PostgreSQL) judged at the database's `now()` and
    locked, else at the bound `at`."""
    unreleased = and_(LEASES.c.proxy_id == PROXIES.c.id, LEASES.c.released_at.is_(None))
    at = func.now() if lock else bindparam("at", type_=LEASES.c.expires_at.type)
    held = exists().where(unreleased, LEASES.c.expires_at > at)
    query = (select(PROXIES, exists().where(unreleased).label("carries_expired_lease"))
             .where(*HANDED_OUT, *filter_clauses(wanted), ~held)
             # Both descending: one backward walk of (status, score, id), no sort.
             .order_by(PROXIES.c.score.desc(), PROXIES.c.id.desc()).limit(1))
    if lock:
        query = query.with_for_update(skip_locked=True, of=PROXIES)
    return query


@lru_cache(maxsize=CANDIDATE_QUERIES)
def _grant_statement(wanted: ProxyFilter) -> Select[tuple[object, ...]]:
    """PostgreSQL: pick (locked, SKIP LOCKED), debit, lease and ledger entry in one statement.
    The debit happens only when a proxy was picked that carries no expired lease, the lease
    and the entry only when the debit happened; a lost race on the live-lease index fails
    the whole statement. Returns the picked proxy and, when granted, the balance after."""
    owner = bindparam("owner", type_=LEASES.c.user_id.type)
    price = bindparam("price", type_=BigInteger())
    pick = _candidate_query(wanted, True).cte("pick")
    debit = (update(BALANCES)
             .where(BALANCES.c.user_id == owner,
                    BALANCES.c.currency == Currency.CREDITS.value,
                    BALANCES.c.amount >= price,
                    exists().where(~pick.c.carries_expired_lease))
             .values(amount=BALANCES.c.amount - price, version=BALANCES.c.version + 1)
             .returning(BALANCES.c.amount, BALANCES.c.version)
             .cte("debit"))
    # The lease's start: the clock read once the proxy row is locked (a release locks it
    # too, so every release this lease could follow has committed with an earlier time);
    # a CTE of its own so that start and expiry come from one reading.
    stamp = (select(pick.c.id, pick.c.host, pick.c.port, debit.c.amount, debit.c.version,
                    func.clock_timestamp().label("at"))
             .select_from(pick.join(debit, true())).cte("stamp"))
    lease = insert(LEASES).from_select(
        ["id", "proxy_id", "user_id", "created_at", "expires_at", "idempotency_key",
         "balance_after"],
        select(bindparam("lease", type_=LEASES.c.id.type), stamp.c.id, owner, stamp.c.at,
               stamp.c.at + bindparam("duration", type_=INTERVAL()),
               bindparam("key", type_=LEASES.c.idempotency_key.type), stamp.c.amount),
    ).cte("lease")
    # ProxyAddress.netloc in SQL: hosts are canonical, so only IPv6 ones hold a colon.
    host = case((stamp.c.host.contains(":"), "[" + stamp.c.host + "]"), else_=stamp.c.host)
    netloc = host + ":" + cast(stamp.c.port, String)
    entry = insert(LEDGER).from_select(
        ["id", "seq", "user_id", "currency", "amount", "balance_after", "tx_type",
         "description", "created_at"],
        select(bindparam("entry", type_=LEDGER.c.id.type), stamp.c.version, owner,
               literal(Currency.CREDITS.value), -price, stamp.c.amount,
               literal(TxType.ACQUIRE.value),
               bindparam("description", type_=String()) + netloc, stamp.c.at),
    ).cte("entry")
    return (select(pick, stamp.c.amount.label("balance_after"), stamp.c.at,
                   func.now().label("now"))
            .select_from(pick.outerjoin(stamp, true()))
            .add_cte(lease, entry))


def _lease_of(row: LeaseRow, proxy: ProxyRow, box: SecretBox) -> Lease:
    return Lease(row.id, proxy_of(proxy, box), row.user_id, row.created_at, row.expires_at,
                 row.released_at)


def _expired_event(row: Any) -> Event:
    return Event(EventName.LEASE_EXPIRED, {
        "lease_id": str(row.id), "user_id": str(row.user_id), "proxy_id": str(row.proxy_id),
        "expires_at": isoformat_z(row.expires_at)})


class LeasesRepository:
    """Every lease whose end it records as expired gets its `lease.expired` event."""

    def __init__(self, session: AsyncSession, accounts: AccountsRepository,
                 box: SecretBox, events: EventLog) -> None:
        self._session = session
        self._accounts = accounts
        self._box = box
        self._events = events

    @property
    def _postgresql(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    async def grant(self, request: LeaseRequest, clock: Clock) -> GrantAttempt:
        """Lease the best free proxy matching the request for its price: the lease, the debit
        and the ledger entry, all or nothing (the caller's transaction on SQLite, one
        statement on PostgreSQL). Raises LeaseTaken when the caller should try again.
        `clock` is read on SQLite only, once the write lock is held."""
        if self._postgresql:
            return await self._grant_in_one_statement(request)
        return await self._grant_stepwise(request, await self._locked_now(clock))

    async def _locked_now(self, clock: Clock) -> datetime:
        """The time once this unit of work holds SQLite's write lock (its BEGIN IMMEDIATE
        runs when the session first takes its connection)."""
        await self._session.connection()
        return clock()

    async def _grant_in_one_statement(self, request: LeaseRequest) -> GrantAttempt:
        try:
            row = (await self._session.execute(_grant_statement(request.wanted), {
                "owner": request.user_id, "price": request.price, "duration": request.duration,
                "lease": request.lease_id, "entry": uuid.uuid4(), "key": request.idempotency_key,
                "description": request.description})).first()
        except IntegrityError:
            raise LeaseTaken(str(request.lease_id)) from None
        if row is None:
            return GrantAttempt(None, None)
        candidate = Candidate(proxy_of(row, self._box), bool(row.carries_expired_lease))
        if candidate.carries_expired_lease:
            # The proxy is free but its last lease's end is not recorded: record it (true
            # whatever happens next) and let the caller try again.
            await self._end_expired(candidate.proxy.id, row.now)
            raise LeaseTaken(str(candidate.proxy.id))
        return GrantAttempt(candidate, row.balance_after, row.at)

    async def _grant_stepwise(self, request: LeaseRequest, now: datetime) -> GrantAttempt:
        candidate = await self.candidate(request.wanted, now)
        if candidate is None:
            return GrantAttempt(None, None)
        moved = await self._accounts.adjust(request.user_id, Currency.CREDITS, -request.price)
        if moved is None:
            return GrantAttempt(candidate, None)
        proxy = candidate.proxy
        if candidate.carries_expired_lease:
            await self._end_expired(proxy.id, now)
        try:
            await self._session.execute(insert(LEASES), {
                "id": request.lease_id, "proxy_id": proxy.id, "user_id": request.user_id,
                "created_at": now, "expires_at": now + request.duration,
                "idempotency_key": request.idempotency_key, "balance_after": moved[0]})
        except IntegrityError:
            raise LeaseTaken(str(proxy.id)) from None
        await self._accounts.append(request.user_id, Currency.CREDITS, -request.price, moved,
                                    TxType.ACQUIRE, request.description + proxy.address.netloc,
                                    now)
        return GrantAttempt(candidate, moved[0], now)

    async def by_key(self, user_id: uuid.UUID, key: str) -> LeaseGrant | None:
        """The lease granted to `user_id` under an idempotency key, as it was granted."""
        found = (await self._session.execute(
            select(LeaseRow, ProxyRow).join(ProxyRow, ProxyRow.id == LeaseRow.proxy_id)
            .where(LeaseRow.user_id == user_id, LeaseRow.idempotency_key == key))).first()
        if found is None:
            return None
        lease, proxy = found
        return LeaseGrant(_lease_of(lease, proxy, self._box), int(lease.balance_after or 0))

    async def _end_expired(self, proxy_id: uuid.UUID, now: datetime) -> None:
        # Written at once: on PostgreSQL this runs in a unit whose statements commit one by
        # one, and the caller retries without committing the unit.
        for row in await self._session.execute(_END_EXPIRED, {"proxy": proxy_id, "at": now}):
            await self._events.write(_expired_event(row))

    async def candidate(self, wanted: ProxyFilter, now: datetime) -> Candidate | None:
        """The best-scoring active proxy matching `wanted` with no lease live at `now`."""
        row = (await self._session.execute(_candidate_query(wanted, False),
                                           {"at": now})).first()
        return Candidate(proxy_of(row, self._box), bool(row.carries_expired_lease)) if row else None

    async def any_match(self, wanted: ProxyFilter) -> bool:
        query = select(PROXIES.c.id).where(*HANDED_OUT, *filter_clauses(wanted)).limit(1)
        return await self._session.scalar(query) is not None

    async def release(self, lease_id: uuid.UUID, user_id: uuid.UUID,
                      clock: Clock) -> tuple[ReleaseOutcome, datetime | None]:
        """End a live lease of `user_id` now; the outcome, and the end when released. The
        end is taken as a grant's start is (database clock, or `clock` under the lock)."""
        ended: datetime | None
        if self._postgresql:
            ended = await self._session.scalar(_RELEASE_NOW, {"lease": lease_id,
                                                              "owner": user_id})
        else:
            now = await self._locked_now(clock)
            result = await self._session.execute(
                _RELEASE, {"lease": lease_id, "owner": user_id, "at": now})
            ended = now if result.rowcount == 1 else None  # type: ignore[attr-defined]
        if ended is not None:
            return ReleaseOutcome.RELEASED, ended
        owner = await self._session.scalar(_OWNER, {"lease": lease_id})
        return (ReleaseOutcome.NOT_LIVE if owner == user_id else ReleaseOutcome.NOT_FOUND), None

    async def live_of(self, user_id: uuid.UUID, now: datetime) -> list[Lease]:
        rows = await self._session.execute(
            select(LeaseRow, ProxyRow).join(ProxyRow, ProxyRow.id == LeaseRow.proxy_id)
            .where(and_(LeaseRow.user_id == user_id, LeaseRow.released_at.is_(None),
                        LeaseRow.expires_at > now))
            .order_by(LeaseRow.expires_at, LeaseRow.id))
        return [_lease_of(lease, proxy, self._box) for lease, proxy in rows]

    async def expire_due(self, now: datetime) -> int:
        """Record the end of every lease whose time is up (the proxies were free already)."""
        ended = (await self._session.execute(
            bulk_update(LeaseRow)
            .where(LeaseRow.released_at.is_(None), LeaseRow.expires_at <= now)
            .values(released_at=LeaseRow.expires_at, end_reason=LeaseEnd.EXPIRED.value)
            .returning(LeaseRow.id, LeaseRow.user_id, LeaseRow.proxy_id,
                       LeaseRow.expires_at))).all()
        for row in ended:
            self._events.add(_expired_event(row))
        return len(ended)
