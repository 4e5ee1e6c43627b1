"""The platform's HTTP API as the bot sees it (the seed's `BackendAPIClient`): the bot's own
key logs a Telegram user in (`login_telegram`), and everything else is called with that
user's API key, as any client would. Imports httpx and the standard library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT_SECONDS = 30.0


class PlatformError(Exception):
    """The API said no: `detail` is its message for the user, `status` its HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", "invalid request"))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return f"HTTP {response.status_code}"


@dataclass(frozen=True, slots=True)
class TelegramUser:
    telegram_id: int
    name: str | None = None


class PlatformClient:
    def __init__(self, base_url: str, bot_key: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=TIMEOUT_SECONDS,
                                       transport=transport, trust_env=False)
        self._bot_key = bot_key
        self._keys: dict[int, str] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def login_telegram(self, user: TelegramUser) -> str:
        response = await self._http.post(
            "/api/telegram/login", json={"telegram_id": user.telegram_id, "name": user.name},
            headers={"Authorization": f"Bearer {self._bot_key}"})
        if response.status_code != 200:
            raise PlatformError(response.status_code, _detail(response))
        key = str(response.json()["access_token"])
        self._keys[user.telegram_id] = key
        return key

    async def call(self, user: TelegramUser, method: str, path: str,
                   **options: Any) -> Any:
        """A request as this Telegram user; logs in first, and again if the key was replaced
        (another bot process logged the same user in)."""
        for attempt in range(2):
            key = self._keys.get(user.telegram_id) or await self.login_telegram(user)
            headers = {"Authorization": f"Bearer {key}", **options.pop("headers", {})}
            response = await self._http.request(method, path, headers=headers, **options)
            if response.status_code == 401 and attempt == 0:
                self._keys.pop(user.telegram_id, None)
                options["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                continue
            if response.status_code >= 400:
                raise PlatformError(response.status_code, _detail(response))
            return response.json()
        raise PlatformError(401, "The bot could not log you in.")

    async def balance_cents(self, user: TelegramUser) -> int:
        account = await self.call(user, "GET", "/account")
        return int(account["balances"]["usd"])

    async def get_external_proxies(self, user: TelegramUser, country_code: str | None = None,
                                   page: int = 0, page_size: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        if country_code:
            params["country_code"] = country_code
        found: dict[str, Any] = await self.call(user, "GET", "/api/external-proxy/list",
                                                params=params)
        return found

    async def purchase_external_proxy(self, user: TelegramUser, product_id: int,
                                      idempotency_key: str) -> dict[str, Any]:
        bought: dict[str, Any] = await self.call(
            user, "POST", "/api/external-proxy/purchase", json={"product_id": product_id},
            headers={"Idempotency-Key": idempotency_key})
        return bought

    async def orders(self, user: TelegramUser) -> list[dict[str, Any]]:
        found = await self.call(user, "GET", "/api/external-proxy/orders")
        return list(found["orders"])

    async def refund_external_proxy(self, user: TelegramUser, order_id: str) -> dict[str, Any]:
        done: dict[str, Any] = await self.call(user, "POST", "/api/external-proxy/refund",
                                               json={"order_id": order_id})
        return done
