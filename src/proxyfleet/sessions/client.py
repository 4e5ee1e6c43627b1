"""`InstagramClient`: Instagram's web API paths (session check, follow, like, comment) for one
account at a time, through the account's proxy, with its cookies, CSRF token and user agent.

429 and 5xx answers are retried with exponential backoff and full jitter, a bounded number
of times; every other answer is classified (`rules.classify`) and handed back as an
`Outcome`, never raised: the service decides what a refusal does. One aiohttp session (one
connection pool) serves every account: cookies travel per request, never in a shared jar.

Imports `core`, `sessions.rules` and aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from proxyfleet.core.instagram import InstagramAction, Refusal
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.sessions.rules import backoff_delay, classify, retried

WEB_APP_ID = "936619743392459"  # the X-IG-App-ID Instagram's own web client sends
CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"
# Proxies aiohttp speaks to itself: plain HTTP forwarding and CONNECT.
HTTP_PROXIES = frozenset({ProxyProtocol.HTTP, ProxyProtocol.HTTPS})


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    base_url: str
    timeout_seconds: float = 15.0
    max_attempts: int = 4  # the first try and up to three retries
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 8.0
    connections: int = 256


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an account is to Instagram: its cookies and user agent, and the proxy it goes
    out through (None: directly, for tests of the client alone)."""

    cookies: Mapping[str, str]
    user_agent: str
    proxy: ProxyAddress | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Instagram's last answer: `refusal` None means done. `status` None: no answer."""

    refusal: Refusal | None
    status: int | None
    message: str
    body: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    form: Mapping[str, str] | None = None


def action_call(action: InstagramAction, target: str, text: str | None = None) -> Call:
    """The web API call that performs an action."""
    safe = quote(target, safe="")
    match action:
        case InstagramAction.FOLLOW:
            return Call("POST", f"/friendships/create/{safe}/")
        case InstagramAction.LIKE:
            return Call("POST", f"/media/{safe}/like/")
        case InstagramAction.COMMENT:
            return Call("POST", f"/media/{safe}/comment/", {"comment_text": text or ""})


SESSION_CHECK = Call("GET", "/accounts/current_user/")


class InstagramClient:
    def __init__(self, policy: ClientPolicy, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.policy = policy
        self._sleep = sleep
        self._uniform = uniform
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:  # made on first use, inside the running loop
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.policy.connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_seconds))
        return self._http

    async def check_session(self, who: Identity) -> Outcome:
        return await self.send(who, SESSION_CHECK)

    async def follow_user(self, who: Identity, target_user_id: str) -> Outcome:
        return await self.send(who, action_call(InstagramAction.FOLLOW, target_user_id))

    async def like_post(self, who: Identity, media_id: str) -> Outcome:
        return await self.send(who, action_call(InstagramAction.LIKE, media_id))

    async def comment_post(self, who: Identity, media_id: str, text: str) -> Outcome:
        return await self.send(who, action_call(InstagramAction.COMMENT, media_id, text))

    async def send(self, who: Identity, call: Call) -> Outcome:
        """The call, retried on 429 and 5xx after a growing, jittered, bounded pause."""
        attempt = 1
        while True:
            outcome = await self._once(who, call, attempt)
            if not retried(outcome.refusal) or attempt >= self.policy.max_attempts:
                return outcome
            await self._sleep(backoff_delay(attempt, self.policy.backoff_base_seconds,
                                            self.policy.backoff_cap_seconds, self._uniform))
            attempt += 1

    async def _once(self, who: Identity, call: Call, attempt: int) -> Outcome:
        options = _proxy_options(who.proxy)
        try:
            async with self._session().request(
                    call.method, self.policy.base_url.rstrip("/") + call.path,
                    headers=_headers(who, call), data=call.form, allow_redirects=False,
                    **options) as answer:
                status, raw = answer.status, await answer.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return Outcome(Refusal.UNREACHABLE, None, f"Instagram could not be reached: "
                           f"{type(error).__name__}", attempts=attempt)
        body = _json_object(raw)
        message = str(body.get("message") or "")
        return Outcome(classify(status, message), status, message or f"HTTP {status}", body,
                       attempt)


def _headers(who: Identity, call: Call) -> dict[str, str]:
    headers = {"User-Agent": who.user_agent, "X-IG-App-ID": WEB_APP_ID,
               "X-Requested-With": "XMLHttpRequest", "Accept": "*/*",
               "Cookie": "; ".join(f"{name}={value}" for name, value in who.cookies.items())}
    if call.method != "GET":
        headers["X-CSRFToken"] = who.cookies.get(CSRF_COOKIE, "")
    return headers


def _proxy_options(proxy: ProxyAddress | None) -> dict[str, Any]:
    if proxy is None:
        return {}
    if proxy.protocol not in HTTP_PROXIES:
        raise ValueError(f"sessions go out through HTTP proxies only, not {proxy.protocol}")
    if proxy.username is None:
        return {"proxy": f"http://{proxy.netloc}"}
    login = f"{quote(proxy.username, safe='')}:{quote(proxy.password or '', safe='')}"
    return {"proxy": f"http://{login}@{proxy.netloc}"}


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
