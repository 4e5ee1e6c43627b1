"""Repository for Instagram accounts' quota state and their actions (seed 003). Never commits.

Races are settled here, in the database: a quota decision locks the account's row
(`SELECT … FOR UPDATE` on PostgreSQL; on SQLite the writer's `BEGIN IMMEDIATE` already
serialises writers), counts the actions in the window and inserts the reservation in the
same transaction, so two processes can never both take the last unit. A unique index on
(username, action, dedupe) makes a like or follow of one target happen once.

May import `proxyfleet.core`, SQLAlchemy and the standard library.
"""

from __future__ import annotations

import enum
import typing
import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.instagram import AccountQuotaState, InstagramAction, Refusal, Usage
from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import InstagramAccountRow, InstagramActionRow

ACCOUNTS = typing.cast(Table, InstagramAccountRow.__table__)
ACTIONS = typing.cast(Table, InstagramActionRow.__table__)


class ActionState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"


COUNTED = (ActionState.PENDING.value, ActionState.DONE.value)
BLOCKING = tuple(r.value for r in Refusal if r.blocks_account)
_LIMIT_COLUMN = {InstagramAction.FOLLOW: "follow_limit", InstagramAction.LIKE: "like_limit",
                 InstagramAction.COMMENT: "comment_limit"}
_BLOCK_COLUMN = {InstagramAction.FOLLOW: "follow_blocked_until",
                 InstagramAction.LIKE: "like_blocked_until",
                 InstagramAction.COMMENT: "comment_blocked_until"}


def _state_of(row: typing.Any) -> AccountQuotaState:
    overrides = {action: getattr(row, column) for action, column in _LIMIT_COLUMN.items()
                 if getattr(row, column) is not None}
    blocked = {action: getattr(row, column) for action, column in _BLOCK_COLUMN.items()
               if getattr(row, column) is not None}
    return AccountQuotaState(overrides=overrides, blocked_until=blocked,
                             writes_blocked_until=row.writes_blocked_until,
                             next_action_at=row.next_action_at)


class InstagramRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _upsert(self) -> typing.Any:
        dialect = self._session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ACCOUNTS)

    async def ensure_account(self, username: str, now: datetime) -> None:
        await self._session.execute(self._upsert().values(username=username, created_at=now)
                                    .on_conflict_do_nothing(index_elements=["username"]))

    async def set_overrides(self, username: str,
                            overrides: Mapping[InstagramAction, int | None]) -> None:
        values = {_LIMIT_COLUMN[action]: limit for action, limit in overrides.items()}
        if values:
            await self._session.execute(bulk_update(InstagramAccountRow)
                                        .where(ACCOUNTS.c.username == username).values(values))

    async def account(self, username: str, *, lock: bool = False) -> AccountQuotaState | None:
        """The account's state; with `lock`, its row stays locked until the transaction
        ends, so this account's quota decisions happen one at a time."""
        query = select(ACCOUNTS).where(ACCOUNTS.c.username == username)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else _state_of(row)

    async def same_action(self, username: str, action: InstagramAction,
                          dedupe: str) -> ActionState | None:
        """The state of this account's earlier like or follow of the same target, if any."""
        found = await self._session.scalar(
            select(ACTIONS.c.state).where(ACTIONS.c.username == username,
                                          ACTIONS.c.action == action.value,
                                          ACTIONS.c.dedupe == dedupe))
        return None if found is None else ActionState(found)

    async def usage(self, username: str, action: InstagramAction, since: datetime) -> Usage:
        """Actions counted in the window that starts (exclusive) at `since`."""
        row = (await self._session.execute(
            select(func.count(), func.min(ACTIONS.c.at))
            .where(ACTIONS.c.username == username, ACTIONS.c.action == action.value,
                   ACTIONS.c.at > since, ACTIONS.c.state.in_(COUNTED)))).one()
        return Usage(int(row[0]), row[1])

    async def reserve(self, username: str, action: InstagramAction, target: str,
                      dedupe: str | None, proxy_id: uuid.UUID | None, at: datetime) -> int:
        return int(await self._session.scalar(insert(ACTIONS).values(
            username=username, action=action.value, target=target, dedupe=dedupe,
            state=ActionState.PENDING.value, proxy_id=proxy_id, at=at)
            .returning(ACTIONS.c.id)) or 0)

    async def set_next_action_at(self, username: str, at: datetime | None) -> None:
        await self._session.execute(bulk_update(InstagramAccountRow)
                                    .where(ACCOUNTS.c.username == username)
                                    .values(next_action_at=at))

    async def mark_done(self, action_id: int) -> None:
        await self._session.execute(bulk_update(InstagramActionRow)
                                    .where(ACTIONS.c.id == action_id)
                                    .values(state=ActionState.DONE.value))

    async def mark_refused(self, action_id: int, refusal: Refusal) -> None:
        """A refused action frees its unit and its target (it may be tried again)."""
        await self._session.execute(bulk_update(InstagramActionRow)
                                    .where(ACTIONS.c.id == action_id)
                                    .values(state=ActionState.REFUSED.value,
                                            refusal=refusal.value, dedupe=None))

    async def block(self, username: str, action: InstagramAction | None,
                    until: datetime) -> None:
        """A cool-off of one action, or (None) of every write."""
        column = _BLOCK_COLUMN[action] if action is not None else "writes_blocked_until"
        await self._session.execute(bulk_update(InstagramAccountRow)
                                    .where(ACCOUNTS.c.username == username)
                                    .values({column: until}))

    async def accounts_blocked_through(self, proxy_id: uuid.UUID,
                                       since: datetime) -> list[str]:
        """The accounts (distinct, sorted) Instagram blocked on actions sent through
        `proxy_id` after `since`."""
        found = await self._session.scalars(
            select(ACTIONS.c.username).distinct()
            .where(ACTIONS.c.proxy_id == proxy_id, ACTIONS.c.at > since,
                   ACTIONS.c.state == ActionState.REFUSED.value,
                   ACTIONS.c.refusal.in_(BLOCKING))
            .order_by(ACTIONS.c.username))
        return list(found)

    async def forget_before(self, moment: datetime) -> int:
        """Drop actions older than `moment` that no longer count and guard no target
        (comments and refusals); done likes and follows stay, so they are never repeated."""
        result = await self._session.execute(
            delete(ACTIONS).where(ACTIONS.c.at < moment, ACTIONS.c.dedupe.is_(None),
                                  ACTIONS.c.state != ActionState.PENDING.value))
        return int(getattr(result, "rowcount", 0) or 0)
