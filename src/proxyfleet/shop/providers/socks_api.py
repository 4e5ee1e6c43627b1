"""`socks-api`: the provider whose API the seed's shop client talks to (its base URL ends in
`/api/v1/authorized`; the token goes in `X-API-Key`). The seed does not print the routes; these
are the ones this adapter speaks, and `proxyfleet sim upstream` serves:

    GET  /products?page&page_size&status=1[&country_code][&city]
         → {"products": [product], "total", "page", "page_size"}
    GET  /products/{product_id}                 → product
    POST /products/{product_id}/purchase        → credentials
    GET  /credentials/{credentials_id}          → credentials
    GET  /proxies/{proxy_id}/status             → {"proxy_id", "status": 0|1}
    GET  /balance                               → {"balance": "12.34", "currency": "USD"}

    product:     {"product_id", "proxy_id", "ip", "country", "country_code", "city", "ISP",
                  "speed": "388", "mobile", "hosting", "status": 0|1}
    credentials: {"credentials_id", "proxy_id", "ip", "port", "login", "password",
                  "expires_at"}
    errors:      {"error": "message"} with 401, 402 (the shop's balance there is too low),
                 404, 409 (sold), 429 (Retry-After), 5xx

This module is the one place that knows them. GET requests answered 429 are retried after
the provider's Retry-After (at most `RATE_LIMIT_RETRIES` times), so a sync keeps within the
rate limit. Imports `core`, this package and aiohttp.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from proxyfleet.core.shop import UpstreamCredentials, UpstreamPage, UpstreamProduct
from proxyfleet.shop.providers.base import (
    ProductFilter,
    ProviderConfig,
    ProviderPlugin,
    UpstreamError,
    UpstreamInsufficientBalance,
    UpstreamProductGone,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)

RATE_LIMIT_RETRIES = 5
_NOT_JSON = object()
MAX_RETRY_AFTER_SECONDS = 10.0


def _reason(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {status}"


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or "1"), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return 1.0


def _raise_for(status: int, body: Any, retry_after: str | None) -> None:
    if status < 400:
        return
    reason = _reason(status, body)
    if status == 402:
        raise UpstreamInsufficientBalance(f"Insufficient balance on external API: {reason}")
    if status in (404, 409, 410):
        raise UpstreamProductGone(reason)
    if status == 429:
        raise UpstreamRateLimited(f"rate limited: {reason}", _retry_after(retry_after))
    if status in (401, 403):
        raise UpstreamRejected(f"the provider refused the shop's token: {reason}")
    if status >= 500:
        raise UpstreamUnavailable(f"the provider failed (HTTP {status}): {reason}")
    raise UpstreamRejected(f"the provider refused the request (HTTP {status}): {reason}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _speed(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def product_from(body: Any) -> UpstreamProduct:
    try:
        return UpstreamProduct(
            product_id=int(body["product_id"]), proxy_id=int(body["proxy_id"]),
            ip=_text(body.get("ip")), country=_text(body.get("country")),
            country_code=_text(body.get("country_code")).upper(),
            city=_text(body.get("city")), isp=_text(body.get("ISP")),
            speed=_speed(body.get("speed")), mobile=bool(body.get("mobile")),
            hosting=bool(body.get("hosting")), status=int(body.get("status", 0)))
    except (KeyError, TypeError, ValueError) as error:
        raise UpstreamUnavailable(f"the provider sent a product we cannot read: {error!r}"
                                  ) from None


def credentials_from(body: Any) -> UpstreamCredentials:
    try:
        expires = body.get("expires_at")
        return UpstreamCredentials(
            credentials_id=int(body["credentials_id"]), proxy_id=int(body["proxy_id"]),
            ip=str(body["ip"]), port=int(body["port"]), login=str(body["login"]),
            password=str(body["password"]),
            expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00"))
            if isinstance(expires, str) else None)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UpstreamUnavailable(f"the provider sent credentials we cannot read: {error!r}"
                                  ) from None


class SocksApiProvider(ProviderPlugin):
    name = "socks-api"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._base = config.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the loop it is made in, and the shop is
        # built before the server's loop runs.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                headers={"X-API-Key": self.config.token, "Accept": "application/json"},
                trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _send(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        # aiohttp, not httpx: a purchase makes two requests here, and httpx spent about four
        # times the CPU per request (bench/shop_bench.py's purchases per second).
        try:
            async with self._client().request(method, self._base + path, params=params,
                                              allow_redirects=False) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = _NOT_JSON
        except TimeoutError:
            raise UpstreamUnavailable("the provider did not answer in time") from None
        except aiohttp.ClientError as error:
            raise UpstreamUnavailable(f"the provider cannot be reached: {error!r}") from None
        _raise_for(status, body, retry_after)
        if body is _NOT_JSON:
            raise UpstreamUnavailable("the provider sent an answer that is not JSON")
        return body

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        for _ in range(RATE_LIMIT_RETRIES):
            try:
                return await self._send("GET", path, params)
            except UpstreamRateLimited as limited:
                await asyncio.sleep(limited.retry_after)
        return await self._send("GET", path, params)

    async def list_products(self, wanted: ProductFilter, page: int,
                            page_size: int) -> UpstreamPage:
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        if wanted.online_only:
            params["status"] = 1
        if wanted.country_code:
            params["country_code"] = wanted.country_code
        if wanted.city:
            params["city"] = wanted.city
        body = await self._get("/products", params)
        try:
            return UpstreamPage([product_from(item) for item in body["products"]],
                                int(body["total"]), int(body.get("page", page)),
                                int(body.get("page_size", page_size)))
        except (KeyError, TypeError, ValueError) as error:
            raise UpstreamUnavailable(f"the provider sent a page we cannot read: {error!r}"
                                      ) from None

    async def product(self, product_id: int) -> UpstreamProduct:
        return product_from(await self._get(f"/products/{product_id}"))

    async def buy(self, product_id: int) -> UpstreamCredentials:
        # Never retried here: the caller decides whether a failed purchase is tried again.
        return credentials_from(await self._send("POST", f"/products/{product_id}/purchase"))

    async def credentials(self, credentials_id: int) -> UpstreamCredentials:
        return credentials_from(await self._get(f"/credentials/{credentials_id}"))

    async def proxy_status(self, proxy_id: int) -> int:
        body = await self._get(f"/proxies/{proxy_id}/status")
        try:
            return int(body["status"])
        except (KeyError, TypeError, ValueError):
            raise UpstreamUnavailable("the provider sent a status we cannot read") from None

    async def balance_cents(self) -> int:
        body = await self._get("/balance")
        try:
            return int(Decimal(str(body["balance"])) * 100)
        except (KeyError, TypeError, InvalidOperation):
            raise UpstreamUnavailable("the provider sent a balance we cannot read") from None


__all__ = ["SocksApiProvider", "UpstreamError"]
