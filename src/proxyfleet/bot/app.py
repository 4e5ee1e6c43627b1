"""Running the bot: aiogram's dispatcher polling the Bot API at `api_url` (Telegram's, or
`proxyfleet sim telegram`), with the handlers of `handlers.py` and one `PlatformClient`.
Imports aiogram, this package and the standard library: never a service of the platform."""

from __future__ import annotations

import asyncio

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from proxyfleet.bot.client import PlatformClient
from proxyfleet.bot.handlers import router

POLL_TIMEOUT_SECONDS = 10


class ShopBot:
    """The bot with its dispatcher and client; `run()` polls until `stop()`."""

    def __init__(self, token: str, api_url: str, platform: PlatformClient) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
        self.bot = Bot(token, session=session)
        self.platform = platform
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(router)

    async def run(self) -> None:
        try:
            await self.dispatcher.start_polling(
                self.bot, client=self.platform, handle_signals=False,
                polling_timeout=POLL_TIMEOUT_SECONDS, close_bot_session=True)
        finally:
            await self.platform.close()

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()


async def run_bot(token: str, api_url: str, platform_url: str, bot_key: str) -> None:
    bot = ShopBot(token, api_url, PlatformClient(platform_url, bot_key))
    try:
        await bot.run()
    except asyncio.CancelledError:
        await bot.stop()
        raise
