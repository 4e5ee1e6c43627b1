"""Telegram users and the bots that act for them. Commits here.

How a bot proves who it is: an admin issues it a bot key (`tgb_…`, shown once, stored as
the secret box's keyed digest). With that key, and only with it, the bot may log in a
Telegram user (the seed's `login_telegram(telegram_id)`): the user linked to that Telegram id
(linked on first login when registration is open) gets a fresh API key labelled `telegram`,
which replaces the one the previous login issued. The bot then calls the API with that key,
as the user, like any other client: a bot key alone can do nothing else.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from proxyfleet.accounts.service import AccountsService
from proxyfleet.core.clock import utcnow
from proxyfleet.core.errors import EmailTaken, Forbidden, InvalidInput, Unauthenticated
from proxyfleet.storage.telegram import LinkTaken
from proxyfleet.storage.uow import Database

BOT_KEY_PREFIX = "tgb_"
TELEGRAM_KEY_LABEL = "telegram"


@dataclass(frozen=True, slots=True)
class TelegramLogin:
    user_id: uuid.UUID
    api_key: str
    created: bool


class TelegramService:
    def __init__(self, database: Database, accounts: AccountsService, *,
                 registration_open: bool, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._accounts = accounts
        self._registration_open = registration_open
        self._now = clock

    async def issue_bot_key(self, label: str) -> str:
        raw = BOT_KEY_PREFIX + secrets.token_urlsafe(36)
        async with self._db.writing() as uow:
            await uow.telegram.add_bot_key(uuid.uuid4(), uow.box.digest(raw), label,
                                           self._now())
            await uow.commit()
        return raw

    async def login(self, telegram_id: int, name: str | None) -> TelegramLogin:
        """Log a Telegram user in for a bot whose key `verify_bot` accepted."""
        if telegram_id <= 0:
            raise InvalidInput("telegram_id must be a positive integer.")
        user_id, created = await self._linked_user(telegram_id, name)
        for key in await self._accounts.keys(user_id):
            if key.label == TELEGRAM_KEY_LABEL and not key.is_revoked:
                await self._accounts.revoke_key(user_id, key.id)
        issued = await self._accounts.issue_key(user_id, TELEGRAM_KEY_LABEL)
        return TelegramLogin(user_id, issued.raw, created)

    async def link(self, telegram_id: int, user_id: uuid.UUID) -> None:
        """Link an existing account (the caller's own) to a Telegram id."""
        try:
            async with self._db.writing() as uow:
                await uow.telegram.link(telegram_id, user_id, self._now())
                await uow.commit()
        except LinkTaken:
            raise Forbidden("This Telegram user or this account is linked already.") from None

    async def verify_bot(self, bot_key: str) -> None:
        if bot_key.startswith(BOT_KEY_PREFIX):
            async with self._db.reading() as uow:
                if await uow.telegram.bot_key_is_live(uow.box.digest(bot_key)):
                    return
        raise Unauthenticated("Invalid bot key: a Telegram bot needs a key an admin issued.")

    async def _linked_user(self, telegram_id: int, name: str | None) -> tuple[uuid.UUID, bool]:
        async with self._db.reading() as uow:
            found = await uow.telegram.user_of(telegram_id)
        if found is not None:
            return found, False
        if not self._registration_open:
            raise Forbidden("This Telegram account is not linked to a proxyfleet account, "
                            "and registration is closed.")
        try:
            user, _ = await self._accounts.register(f"telegram-{telegram_id}@telegram.invalid",
                                                    name or f"telegram {telegram_id}")
        except EmailTaken:
            pass  # a concurrent first login made it
        else:
            await self._link_new(telegram_id, user.id)
        async with self._db.reading() as uow:
            found = await uow.telegram.user_of(telegram_id)
        if found is None:
            raise Unauthenticated("The Telegram login raced itself; try again.")
        return found, True

    async def _link_new(self, telegram_id: int, user_id: uuid.UUID) -> None:
        with contextlib.suppress(Forbidden):  # linked by a concurrent first login
            await self.link(telegram_id, user_id)
