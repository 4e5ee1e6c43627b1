"""Repository for Telegram links (a Telegram user ↔ an account) and the keys admins issue to
Telegram bots. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.storage.statements import bulk_update
from proxyfleet.storage.tables import TelegramBotKeyRow, TelegramLinkRow


class LinkTaken(Exception):
    """The Telegram user, or the account, is linked already."""


class TelegramRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def user_of(self, telegram_id: int) -> uuid.UUID | None:
        found = await self._session.scalar(select(TelegramLinkRow.user_id)
                                           .where(TelegramLinkRow.telegram_id == telegram_id))
        return found

    async def link(self, telegram_id: int, user_id: uuid.UUID, at: datetime) -> None:
        self._session.add(TelegramLinkRow(telegram_id=telegram_id, user_id=user_id,
                                          linked_at=at))
        try:
            await self._session.flush()
        except IntegrityError:
            raise LinkTaken(telegram_id) from None

    async def add_bot_key(self, key_id: uuid.UUID, key_hash: str, label: str,
                          at: datetime) -> None:
        self._session.add(TelegramBotKeyRow(id=key_id, key_hash=key_hash, label=label,
                                            created_at=at))
        await self._session.flush()

    async def bot_key_is_live(self, key_hash: str) -> bool:
        found = await self._session.scalar(
            select(TelegramBotKeyRow.id).where(TelegramBotKeyRow.key_hash == key_hash,
                                               TelegramBotKeyRow.revoked_at.is_(None)))
        return found is not None

    async def revoke_bot_keys(self, at: datetime) -> None:
        await self._session.execute(bulk_update(TelegramBotKeyRow)
                                    .where(TelegramBotKeyRow.revoked_at.is_(None))
                                    .values(revoked_at=at))
