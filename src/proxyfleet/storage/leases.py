"""Repository for leases. Exclusivity is the database's job: a partial unique index allows one
live lease per proxy; on PostgreSQL candidates are also locked with SKIP LOCKED so concurrent
acquires spread over proxies instead of queueing on the best one. Never commits.

The statements of acquire and release run on every request: they are Core statements on the
tables, built once (or once per filter) with bind parameters. ORM-enabled statements load
entities, synchronise the session and compute a cache key per call, which cost more CPU than
the statement's round trip. On PostgreSQL a grant (candidate, debit, lease, ledger entry) is
one statement, so it needs no transaction around it: one round trip instead of six."""

from __future__ import annotations

import enum
import typing
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

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
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.accounts import Currency, TxType
from proxyfleet.core.leases import Lease, LeaseEnd
from proxyfleet.core.proxies import Proxy, ProxyFilter, ProxyStatus
from proxyfleet.storage.accounts import BALANCES, LEDGER, AccountsRepository
from proxyfleet.storage.proxies import PROXIES, filter_clauses, proxy_of
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
    .values(released_at=LEASES.c.expires_at, end_reason=LeaseEnd.EXPIRED.value))
_RELEASE = (
    update(LEASES)
    .where(LEASES.c.id == bindparam("lease"), LEASES.c.user_id == bindparam("owner"),
           LEASES.c.released_at.is_(None), LEASES.c.expires_at > _at)
    .values(released_at=_at, end_reason=LeaseEnd.RELEASED.value))
_OWNER = select(LEASES.c.user_id).where(LEASES.c.id == bindparam("lease"))
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
    created_at: datetime
    expires_at: datetime
    price: int
    description: str  # of the ledger entry, before the proxy's address


@dataclass(frozen=True, slots=True)
class GrantAttempt:
    """What one try at a lease did: `balance_after` is set when the lease, the debit and
    its ledger entry were written; otherwise nothing was, and `candidate` is the free proxy
    the balance could not pay for, or None when no proxy was free."""

    candidate: Candidate | None
    balance_after: int | None


@lru_cache(maxsize=CANDIDATE_QUERIES)
def _candidate_query(wanted: ProxyFilter, lock: bool) -> Select[tuple[object, ...]]:
    unreleased = and_(LEASES.c.proxy_id == PROXIES.c.id, LEASES.c.released_at.is_(None))
    held = exists().where(unreleased, LEASES.c.expires_at > bindparam("at"))
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
    at = bindparam("at", type_=LEASES.c.created_at.type)
    pick = _candidate_query(wanted, True).cte("pick")
    debit = (update(BALANCES)
             .where(BALANCES.c.user_id == owner,
                    BALANCES.c.currency == Currency.CREDITS.value,
                    BALANCES.c.amount >= price,
                    exists().where(~pick.c.carries_expired_lease))
             .values(amount=BALANCES.c.amount - price, version=BALANCES.c.version + 1)
             .returning(BALANCES.c.amount, BALANCES.c.version)
             .cte("debit"))
    granted = pick.join(debit, true())
    lease = insert(LEASES).from_select(
        ["id", "proxy_id", "user_id", "created_at", "expires_at"],
        select(bindparam("lease", type_=LEASES.c.id.type), pick.c.id, owner, at,
               bindparam("until", type_=LEASES.c.expires_at.type)).select_from(granted),
    ).cte("lease")
    # ProxyAddress.netloc in SQL: hosts are canonical, so only IPv6 ones hold a colon.
    host = case((pick.c.host.contains(":"), "[" + pick.c.host + "]"), else_=pick.c.host)
    netloc = host + ":" + cast(pick.c.port, String)
    entry = insert(LEDGER).from_select(
        ["id", "seq", "user_id", "currency", "amount", "balance_after", "tx_type",
         "description", "created_at"],
        select(bindparam("entry", type_=LEDGER.c.id.type), debit.c.version, owner,
               literal(Currency.CREDITS.value), -price, debit.c.amount,
               literal(TxType.ACQUIRE.value),
               bindparam("description", type_=String()) + netloc, at).select_from(granted),
    ).cte("entry")
    return (select(pick, debit.c.amount.label("balance_after"))
            .select_from(pick.outerjoin(debit, true()))
            .add_cte(lease, entry))


def _lease_of(row: LeaseRow, proxy: ProxyRow) -> Lease:
    return Lease(row.id, proxy_of(proxy), row.user_id, row.created_at, row.expires_at,
                 row.released_at)


class LeasesRepository:
    def __init__(self, session: AsyncSession, accounts: AccountsRepository) -> None:
        self._session = session
        self._accounts = accounts

    @property
    def _postgresql(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    async def grant(self, request: LeaseRequest) -> GrantAttempt:
        """Lease the best free proxy matching the request for its price: the lease, the debit
        and the ledger entry, all or nothing (the caller's transaction on SQLite, one
        statement on PostgreSQL). Raises LeaseTaken when the caller should try again."""
        if self._postgresql:
            return await self._grant_in_one_statement(request)
        return await self._grant_stepwise(request)

    async def _grant_in_one_statement(self, request: LeaseRequest) -> GrantAttempt:
        try:
            row = (await self._session.execute(_grant_statement(request.wanted), {
                "owner": request.user_id, "price": request.price, "at": request.created_at,
                "until": request.expires_at, "lease": request.lease_id, "entry": uuid.uuid4(),
                "description": request.description})).first()
        except IntegrityError:
            raise LeaseTaken(str(request.lease_id)) from None
        if row is None:
            return GrantAttempt(None, None)
        candidate = Candidate(proxy_of(row), bool(row.carries_expired_lease))
        if candidate.carries_expired_lease:
            # The proxy is free but its last lease's end is not recorded: record it (true
            # whatever happens next) and let the caller try again.
            await self._end_expired(candidate.proxy.id, request.created_at)
            raise LeaseTaken(str(candidate.proxy.id))
        return GrantAttempt(candidate, row.balance_after)

    async def _grant_stepwise(self, request: LeaseRequest) -> GrantAttempt:
        candidate = await self.candidate(request.wanted, request.created_at)
        if candidate is None:
            return GrantAttempt(None, None)
        moved = await self._accounts.adjust(request.user_id, Currency.CREDITS, -request.price)
        if moved is None:
            return GrantAttempt(candidate, None)
        proxy = candidate.proxy
        if candidate.carries_expired_lease:
            await self._end_expired(proxy.id, request.created_at)
        try:
            await self._session.execute(insert(LEASES), {
                "id": request.lease_id, "proxy_id": proxy.id, "user_id": request.user_id,
                "created_at": request.created_at, "expires_at": request.expires_at})
        except IntegrityError:
            raise LeaseTaken(str(proxy.id)) from None
        await self._accounts.append(request.user_id, Currency.CREDITS, -request.price, moved,
                                    TxType.ACQUIRE, request.description + proxy.address.netloc,
                                    request.created_at)
        return GrantAttempt(candidate, moved[0])

    async def _end_expired(self, proxy_id: uuid.UUID, now: datetime) -> None:
        await self._session.execute(_END_EXPIRED, {"proxy": proxy_id, "at": now})

    async def candidate(self, wanted: ProxyFilter, now: datetime) -> Candidate | None:
        """The best-scoring active proxy matching `wanted` with no live lease."""
        row = (await self._session.execute(_candidate_query(wanted, self._postgresql),
                                           {"at": now})).first()
        return Candidate(proxy_of(row), bool(row.carries_expired_lease)) if row else None

    async def any_match(self, wanted: ProxyFilter) -> bool:
        query = select(PROXIES.c.id).where(*HANDED_OUT, *filter_clauses(wanted)).limit(1)
        return await self._session.scalar(query) is not None

    async def release(self, lease_id: uuid.UUID, user_id: uuid.UUID,
                      now: datetime) -> ReleaseOutcome:
        result = await self._session.execute(
            _RELEASE, {"lease": lease_id, "owner": user_id, "at": now})
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return ReleaseOutcome.RELEASED
        owner = await self._session.scalar(_OWNER, {"lease": lease_id})
        return ReleaseOutcome.NOT_LIVE if owner == user_id else ReleaseOutcome.NOT_FOUND

    async def live_of(self, user_id: uuid.UUID, now: datetime) -> list[Lease]:
        rows = await self._session.execute(
            select(LeaseRow, ProxyRow).join(ProxyRow, ProxyRow.id == LeaseRow.proxy_id)
            .where(and_(LeaseRow.user_id == user_id, LeaseRow.released_at.is_(None),
                        LeaseRow.expires_at > now))
            .order_by(LeaseRow.expires_at, LeaseRow.id))
        return [_lease_of(lease, proxy) for lease, proxy in rows]

    async def expire_due(self, now: datetime) -> int:
        """Record the end of every lease whose time is up (the proxies were free already)."""
        result = await self._session.execute(
            bulk_update(LeaseRow)
            .where(LeaseRow.released_at.is_(None), LeaseRow.expires_at <= now)
            .values(released_at=LeaseRow.expires_at, end_reason=LeaseEnd.EXPIRED.value))
        return int(result.rowcount)  # type: ignore[attr-defined]
