"""Fetching a source's list over HTTP(S), bounded in time and size."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from proxyfleet.core.errors import UpstreamFailed

MAX_LIST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FetchedList:
    text: str
    content_type: str | None


class ListFetcher:
    """GETs a list. Every failure — status, timeout, size, bad encoding — is UpstreamFailed."""

    def __init__(self, timeout_seconds: float = 30.0, max_bytes: int = MAX_LIST_BYTES) -> None:
        self._timeout = httpx.Timeout(timeout_seconds)
        self._max_bytes = max_bytes

    async def fetch(self, url: str) -> FetchedList:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=True,
                                         max_redirects=5, trust_env=False) as client:
                return await self._read(client, url)
        except httpx.HTTPError as error:
            raise UpstreamFailed(f"Fetching the list failed: {_describe(error)}",
                                 {"url": url}) from None

    async def _read(self, client: httpx.AsyncClient, url: str) -> FetchedList:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise UpstreamFailed(f"The list server answered {response.status_code}.",
                                     {"url": url, "status": response.status_code})
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise UpstreamFailed("The list is larger than allowed.",
                                         {"url": url, "max_bytes": self._max_bytes})
            encoding = response.encoding or "utf-8"
            return FetchedList(bytes(body).decode(encoding, errors="replace"),
                               response.headers.get("content-type"))


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
