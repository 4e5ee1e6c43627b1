"""Upstream providers: the `UpstreamProvider` plugin protocol, its registry, and the built-in
`socks-api` adapter."""

from proxyfleet.shop.providers.base import (
    ProductFilter,
    ProviderConfig,
    ProviderPlugin,
    UpstreamError,
    UpstreamInsufficientBalance,
    UpstreamProductGone,
    UpstreamProvider,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from proxyfleet.shop.providers.registry import ProviderRegistry, UnknownProvider

__all__ = [
    "ProductFilter",
    "ProviderConfig",
    "ProviderPlugin",
    "ProviderRegistry",
    "UnknownProvider",
    "UpstreamError",
    "UpstreamInsufficientBalance",
    "UpstreamProductGone",
    "UpstreamProvider",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamUnavailable",
]
