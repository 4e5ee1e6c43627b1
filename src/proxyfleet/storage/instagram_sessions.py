"""Instagram's side of the platform's one session table (`account_sessions`): the rows that
carry a `username`, with their cookies (sealed, as one JSON object), user agent, expiry and
state, and what pinning them to proxies needs to know. Never commits.

The seed-000 columns (`session`: the `sessionid` cookie, sealed, its digest unique;
`proxy_id`; `status`; `owner_id`) are written here too, so a session made on this surface is
listed under its proxy by `/api/proxies`.

May import `proxyfleet.core`, SQLAlchemy and the standard library.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.instagram import InstagramSession, SessionState
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol, ProxyStatus
from proxyfleet.core.sessions import SessionStatus
from proxyfleet.storage.proxies import address_of
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import AccountSessionRow, InstagramSuspectRow, ProxyRow

SESSIONS = typing.cast(Table, AccountSessionRow.__table__)
PROXIES = typing.cast(Table, ProxyRow.__table__)
SUSPECTS = typing.cast(Table, InstagramSuspectRow.__table__)
# Sessions that hold a place on their proxy: not invalidated (expired ones until removed).
_HOLDING = SESSIONS.c.username.is_not(None) & (
    SESSIONS.c.state != SessionState.INVALIDATED.value)


class SessionTaken(Exception):
    """The `sessionid` cookie, or the username, belongs to another session already (perhaps
    written by a concurrent request a moment ago)."""


@dataclass(frozen=True, slots=True)
class NewSession:
    username: str
    cookie: str  # the `sessionid` cookie: seed 000's `session`
    cookies: Mapping[str, str]
    user_agent: str
    proxy_id: uuid.UUID
    owner_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PinnedProxy:
    """The proxy a session goes out through, as far as pinning cares."""

    proxy_id: uuid.UUID
    address: ProxyAddress
    number: int | None
    status: ProxyStatus
    enabled: bool  # not disabled by an admin
    shared: bool

    @property
    def alive(self) -> bool:
        """Checked alive and enabled: what the rotation service hands out."""
        return self.status is ProxyStatus.ACTIVE and self.enabled


class InstagramSessionsRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    def _entity(self, row: Row[typing.Any]) -> InstagramSession:
        cookies = json.loads(self._box.open(row.cookies)) if row.cookies else {}
        return InstagramSession(
            id=row.id, username=row.username, proxy_id=row.proxy_id, cookies=cookies,
            user_agent=row.user_agent or "", state=SessionState(row.state),
            owner_id=row.owner_id, created_at=row.created_at, expires_at=row.expires_at)

    async def by_username(self, username: str, *,
                          lock: bool = False) -> InstagramSession | None:
        query = select(SESSIONS).where(SESSIONS.c.username == username)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return self._entity(row) if row else None

    async def listed(self, owner_id: uuid.UUID | None = None
                     ) -> list[tuple[InstagramSession, PinnedProxy]]:
        """Every Instagram session (or the owner's), by username, with its pinned proxy."""
        query = select(SESSIONS).where(SESSIONS.c.username.is_not(None))
        if owner_id is not None:
            query = query.where(SESSIONS.c.owner_id == owner_id)
        rows = (await self._session.execute(query.order_by(SESSIONS.c.username))).all()
        wanted = {row.proxy_id for row in rows}
        pinned = {} if not wanted else {
            row.id: self._pinned(row) for row in await self._session.execute(
                select(PROXIES).where(PROXIES.c.id.in_(wanted)))}
        # A session's proxy is never missing: deleting a proxy deletes its sessions.
        return [(self._entity(row), pinned[row.proxy_id]) for row in rows]

    async def cookie_owner(self, cookie: str) -> int | None:
        """The id of the session the cookie is bound to, if any."""
        found = await self._session.scalar(select(SESSIONS.c.id).where(
            SESSIONS.c.session_digest == self._box.digest(cookie)))
        return None if found is None else int(found)

    async def unclaimed(self, cookie: str) -> tuple[int, uuid.UUID] | None:
        """The id and proxy of the seed-000 session (no account yet) bound to the cookie."""
        row = (await self._session.execute(
            select(SESSIONS.c.id, SESSIONS.c.proxy_id).where(
                SESSIONS.c.session_digest == self._box.digest(cookie),
                SESSIONS.c.username.is_(None)).with_for_update())).first()
        return None if row is None else (int(row.id), row.proxy_id)

    def _values(self, new: NewSession) -> dict[str, typing.Any]:
        return {"proxy_id": new.proxy_id, "session": self._box.seal(new.cookie),
                "session_digest": self._box.digest(new.cookie),
                "status": SessionStatus.ACTIVE.value, "owner_id": new.owner_id,
                "created_at": new.created_at, "updated_at": new.created_at,
                "username": new.username, "user_agent": new.user_agent,
                "cookies": self._box.seal(json.dumps(dict(new.cookies), sort_keys=True)),
                "expires_at": new.expires_at, "state": SessionState.ACTIVE.value}

    async def add(self, new: NewSession) -> int:
        try:
            return int(await self._session.scalar(
                insert(SESSIONS).values(self._values(new)).returning(SESSIONS.c.id)) or 0)
        except IntegrityError:
            raise SessionTaken(new.username) from None

    async def replace(self, session_id: int, new: NewSession) -> None:
        """New cookies, user agent and expiry for an account's session (a new login)."""
        try:
            await self._session.execute(bulk_update(AccountSessionRow)
                                        .where(SESSIONS.c.id == session_id)
                                        .values(self._values(new)))
        except IntegrityError:
            raise SessionTaken(new.username) from None

    async def set_state(self, session_id: int, state: SessionState, at: datetime) -> None:
        status = SessionStatus.ACTIVE if state is SessionState.ACTIVE else \
            SessionStatus.DISABLED
        await self._session.execute(bulk_update(AccountSessionRow)
                                    .where(SESSIONS.c.id == session_id)
                                    .values(state=state.value, status=status.value,
                                            updated_at=at))

    async def move(self, session_id: int, proxy_id: uuid.UUID, at: datetime) -> None:
        await self._session.execute(bulk_update(AccountSessionRow)
                                    .where(SESSIONS.c.id == session_id)
                                    .values(proxy_id=proxy_id, updated_at=at))

    async def remove_expired(self, now: datetime) -> int:
        result = await self._session.execute(
            delete(SESSIONS).where(SESSIONS.c.username.is_not(None),
                                   SESSIONS.c.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- pinning ----------------------------------------------------------------------------

    async def proxy(self, proxy_id: uuid.UUID, *, lock: bool = False) -> PinnedProxy | None:
        """The proxy; with `lock`, its row stays locked to the end of the transaction, so
        the accounts counted on it cannot change meanwhile."""
        query = select(PROXIES).where(PROXIES.c.id == proxy_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else self._pinned(row)

    async def proxy_by_number(self, number: int) -> PinnedProxy | None:
        row = (await self._session.execute(
            select(PROXIES).where(PROXIES.c.number == number))).first()
        return None if row is None else self._pinned(row)

    def _pinned(self, row: Row[typing.Any]) -> PinnedProxy:
        return PinnedProxy(row.id, address_of(row, self._box), row.number, ProxyStatus(row.status),
                           bool(row.is_active), bool(row.shared))

    async def sessions_per_proxy(self, proxy_ids: Iterable[uuid.UUID] | None = None,
                                 ) -> dict[uuid.UUID, int]:
        """Instagram sessions holding a place on each proxy (all proxies, or these)."""
        query = select(SESSIONS.c.proxy_id, func.count()).where(_HOLDING)
        if proxy_ids is not None:
            query = query.where(SESSIONS.c.proxy_id.in_(list(proxy_ids)))
        rows = await self._session.execute(query.group_by(SESSIONS.c.proxy_id))
        return {row[0]: int(row[1]) for row in rows}

    async def pinnable(self, *, shared: bool) -> list[uuid.UUID]:
        """Alive, enabled HTTP proxies sessions may be pinned to: the manager's private
        ones, or (`shared`) the pool's shared ones; suspects left out."""
        kind = PROXIES.c.shared.is_(True) if shared else (
            PROXIES.c.shared.is_(False) & PROXIES.c.number.is_not(None))
        suspects = select(SUSPECTS.c.proxy_id)
        found = await self._session.scalars(
            select(PROXIES.c.id).where(
                kind, PROXIES.c.is_active.is_(True),
                PROXIES.c.status == ProxyStatus.ACTIVE.value,
                PROXIES.c.protocol.in_([ProxyProtocol.HTTP.value, ProxyProtocol.HTTPS.value]),
                PROXIES.c.id.not_in(suspects)))
        return list(found)

    async def is_suspect(self, proxy_id: uuid.UUID) -> bool:
        return await self._session.scalar(
            select(SUSPECTS.c.proxy_id).where(SUSPECTS.c.proxy_id == proxy_id)) is not None

    async def mark_suspect(self, proxy_id: uuid.UUID, accounts: int, at: datetime) -> bool:
        """Disable the proxy for sessions; False when it was already (by this process or
        another: only one insert lands, so the proxy is reported once)."""
        dialect = self._session.get_bind().dialect.name
        insert_row = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SUSPECTS)
        landed = await self._session.scalar(
            insert_row.values(proxy_id=proxy_id, blocked_accounts=accounts, since=at)
            .on_conflict_do_nothing(index_elements=[SUSPECTS.c.proxy_id])
            .returning(SUSPECTS.c.proxy_id))
        return landed is not None
