"""Repository of account sessions: the one table of them (seed 000's and seed 003's).
Cookies are sealed with the unit of work's box and found or de-duplicated by their digest.
Never commits."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.sessions import AccountSession, SessionStatus
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.tables import AccountSessionRow

SESSIONS = typing.cast(Table, AccountSessionRow.__table__)


class SessionCookieTaken(Exception):
    """The cookie is already bound to a session (of any proxy). Raised by `add`; on
    PostgreSQL the transaction can no longer be used after it."""


class SessionsRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    def _entity(self, row: Row[typing.Any]) -> AccountSession:
        return AccountSession(id=row.id, proxy_id=row.proxy_id,
                              session=self._box.open(row.session),
                              status=SessionStatus(row.status), owner_id=row.owner_id,
                              created_at=row.created_at, updated_at=row.updated_at)

    async def add(self, proxy_id: uuid.UUID, cookie: str, at: datetime, *,
                  owner_id: uuid.UUID | None = None,
                  status: SessionStatus = SessionStatus.ACTIVE) -> AccountSession:
        """Bind a cookie to a proxy. Raises SessionCookieTaken if it is bound already."""
        digest = self._box.digest(cookie)
        if await self.by_cookie(cookie) is not None:
            raise SessionCookieTaken(digest)
        try:
            new_id = await self._session.scalar(
                insert(SESSIONS).values(
                    proxy_id=proxy_id, session=self._box.seal(cookie), session_digest=digest,
                    status=status.value, owner_id=owner_id, created_at=at, updated_at=at)
                .returning(SESSIONS.c.id))
        except IntegrityError:
            raise SessionCookieTaken(digest) from None
        return AccountSession(int(typing.cast(int, new_id)), proxy_id, cookie, status,
                              owner_id, at, at)

    async def get(self, session_id: int) -> AccountSession | None:
        row = (await self._session.execute(
            select(SESSIONS).where(SESSIONS.c.id == session_id))).first()
        return self._entity(row) if row else None

    async def by_cookie(self, cookie: str) -> AccountSession | None:
        row = (await self._session.execute(
            select(SESSIONS).where(SESSIONS.c.session_digest == self._box.digest(cookie)))
        ).first()
        return self._entity(row) if row else None

    async def of_proxies(self, proxy_ids: Iterable[uuid.UUID]
                         ) -> dict[uuid.UUID, list[AccountSession]]:
        """Each proxy's sessions, oldest first (proxies without any are absent)."""
        wanted = list(proxy_ids)
        found: dict[uuid.UUID, list[AccountSession]] = {}
        if not wanted:
            return found
        rows = await self._session.execute(
            select(SESSIONS).where(SESSIONS.c.proxy_id.in_(wanted))
            .order_by(SESSIONS.c.id))
        for row in rows:
            found.setdefault(row.proxy_id, []).append(self._entity(row))
        return found

    async def of_owner(self, owner_id: uuid.UUID) -> list[AccountSession]:
        rows = await self._session.execute(
            select(SESSIONS).where(SESSIONS.c.owner_id == owner_id).order_by(SESSIONS.c.id))
        return [self._entity(row) for row in rows]

    async def set_status(self, session_id: int, status: SessionStatus, at: datetime) -> bool:
        result = await self._session.execute(
            update(SESSIONS).where(SESSIONS.c.id == session_id)
            .values(status=status.value, updated_at=at))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def move(self, session_id: int, proxy_id: uuid.UUID, at: datetime) -> bool:
        """Bind the session to another proxy (its own died or was removed)."""
        result = await self._session.execute(
            update(SESSIONS).where(SESSIONS.c.id == session_id)
            .values(proxy_id=proxy_id, updated_at=at))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove(self, session_id: int) -> bool:
        result = await self._session.execute(
            delete(SESSIONS).where(SESSIONS.c.id == session_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
