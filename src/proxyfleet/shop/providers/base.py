"""What an upstream provider is (`UpstreamProvider`), the errors its adapters raise, and the
base class that registers built-in providers.

An adapter is the one place that knows its provider's routes and shapes; everything above
it speaks `core.shop`'s entities. Built-in providers subclass `ProviderPlugin`; outside
packages may do the same or satisfy `UpstreamProvider` and name a factory through the
`proxyfleet.providers` entry point group. Imports only `core`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from proxyfleet.core.shop import UpstreamCredentials, UpstreamPage, UpstreamProduct


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A provider's settings: where its API is, the shop's token there, the time limit."""

    base_url: str
    token: str
    timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class ProductFilter:
    country_code: str | None = None
    city: str | None = None
    online_only: bool = True


class UpstreamError(Exception):
    """The provider did not do what was asked; `reason` says why in words for a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamUnavailable(UpstreamError):
    """Timeouts, refused connections, 5xx answers, answers we cannot read."""


class UpstreamRateLimited(UpstreamError):
    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UpstreamInsufficientBalance(UpstreamError):
    """The shop's own balance at the provider is too low to buy."""


class UpstreamProductGone(UpstreamError):
    """The product no longer exists there, or someone else bought it."""


class UpstreamRejected(UpstreamError):
    """The provider refused the shop's token or request."""


@runtime_checkable
class UpstreamProvider(Protocol):
    name: str

    async def list_products(self, wanted: ProductFilter, page: int,
                            page_size: int) -> UpstreamPage: ...

    async def product(self, product_id: int) -> UpstreamProduct: ...

    async def buy(self, product_id: int) -> UpstreamCredentials: ...

    async def credentials(self, credentials_id: int) -> UpstreamCredentials: ...

    async def proxy_status(self, proxy_id: int) -> int: ...

    async def balance_cents(self) -> int: ...

    async def close(self) -> None: ...


class ProviderPlugin:
    """Base of self-registering providers: a subclass that sets `name` is registered, and is
    built from a `ProviderConfig`."""

    name: str

    _catalogue: ClassVar[dict[str, type[ProviderPlugin]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            ProviderPlugin._catalogue[cls.name] = cls

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @classmethod
    def registered(cls) -> dict[str, type[ProviderPlugin]]:
        return dict(ProviderPlugin._catalogue)
