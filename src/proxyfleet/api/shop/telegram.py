"""The Telegram bot's door into the API: an admin issues a bot key; the bot, with it, logs a
Telegram user in and gets that user's API key (see `accounts/telegram.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from proxyfleet.accounts.telegram import TelegramService
from proxyfleet.api.auth import Admin, bearer_token, container
from proxyfleet.api.shop.envelope import shop_router
from proxyfleet.api.shop.schemas import BotKeyIn, BotKeyOut, TelegramLoginIn, TelegramLoginOut
from proxyfleet.bootstrap import Container

router = shop_router(tags=["telegram"])


async def telegram_service(found: Annotated[Container, Depends(container)]) -> TelegramService:
    return found.telegram


Telegram = Annotated[TelegramService, Depends(telegram_service)]


async def verified_bot(telegram: Telegram, key: Annotated[str, Depends(bearer_token)]) -> None:
    await telegram.verify_bot(key)


@router.post("/api/telegram/login", response_model=TelegramLoginOut,
             dependencies=[Depends(verified_bot)])
async def login(body: TelegramLoginIn, telegram: Telegram) -> TelegramLoginOut:
    """For bots: `Authorization: Bearer tgb_…` (a bot key). Returns the linked user's API key
    (the account is made on first login when registration is open)."""
    done = await telegram.login(body.telegram_id, body.name)
    return TelegramLoginOut(access_token=done.api_key, user_id=str(done.user_id),
                            created=done.created)


@router.post("/api/telegram/bot-keys", response_model=BotKeyOut, status_code=201)
async def issue_bot_key(_: Admin, telegram: Telegram, body: BotKeyIn | None = None) -> BotKeyOut:
    """Admins: a key for a Telegram bot, shown this once."""
    label = (body or BotKeyIn()).label
    return BotKeyOut(key=await telegram.issue_bot_key(label), label=label)
