"""The `telegram` notifier: the Bot API's `sendMessage` to one chat.

The API's base URL is the `telegram_api_url` setting (the simulated Telegram in tests and
demos); the bot token is sealed at rest.
"""

from __future__ import annotations

import re

import httpx
from pydantic import Field, SecretStr, field_validator

from proxyfleet.core.events import Event
from proxyfleet.notify.notifiers.base import (
    DeliveryFailed,
    NotifierConfig,
    NotifierEnvironment,
    NotifierPlugin,
    event_text,
)

TOKEN = re.compile(r"\d+:[\w-]+")


class TelegramConfig(NotifierConfig):
    bot_token: SecretStr = Field(min_length=5, max_length=200, description="123456:ABC…")
    chat_id: str = Field(min_length=1, max_length=64, description="Chat id or @channel.")
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("bot_token")
    @classmethod
    def _looks_like_a_token(cls, value: SecretStr) -> SecretStr:
        if not TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("a bot token looks like 123456:ABC-def")
        return value


class TelegramNotifier(NotifierPlugin):
    name = "telegram"
    Config = TelegramConfig

    def __init__(self, config: TelegramConfig, environment: NotifierEnvironment) -> None:
        self._config = config
        self._base = environment.telegram_api_url.rstrip("/")
        self._http = environment.http

    async def send(self, event: Event) -> None:
        url = f"{self._base}/bot{self._config.bot_token.get_secret_value()}/sendMessage"
        try:
            response = await self._http.post(url, json={"chat_id": self._config.chat_id,
                                                         "text": event_text(event)},
                                             timeout=self._config.timeout_seconds)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            # The URL holds the token: name the error's type, never the request.
            raise DeliveryFailed(f"Telegram: {type(error).__name__}") from None
        if not (response.is_success and isinstance(answer, dict) and answer.get("ok")):
            description = answer.get("description") if isinstance(answer, dict) else None
            raise DeliveryFailed(f"Telegram answered {response.status_code}: {description}")
