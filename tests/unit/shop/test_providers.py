"""The provider registry: built-ins register themselves, outside providers come through the
`proxyfleet.providers` entry points, a broken one is skipped, an unknown name is an error."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from proxyfleet.core.shop import UpstreamCredentials, UpstreamPage, UpstreamProduct
from proxyfleet.shop.providers import (
    ProductFilter,
    ProviderConfig,
    ProviderPlugin,
    ProviderRegistry,
    UnknownProvider,
    UpstreamProvider,
)
from proxyfleet.shop.providers.registry import ENTRY_POINT_GROUP
from proxyfleet.shop.providers.socks_api import SocksApiProvider, product_from

CONFIG = ProviderConfig("http://127.0.0.1:9/api", "token", 1.0)


class OutsideProvider:
    """Satisfies UpstreamProvider without subclassing anything of ours."""

    name = "outside"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def list_products(self, wanted: ProductFilter, page: int,
                            page_size: int) -> UpstreamPage:
        return UpstreamPage([], 0, page, page_size)

    async def product(self, product_id: int) -> UpstreamProduct:
        raise NotImplementedError

    async def buy(self, product_id: int) -> UpstreamCredentials:
        raise NotImplementedError

    async def credentials(self, credentials_id: int) -> UpstreamCredentials:
        raise NotImplementedError

    async def proxy_status(self, proxy_id: int) -> int:
        return 1

    async def balance_cents(self) -> int:
        return 0

    async def close(self) -> None:
        return None


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_built_in_and_outside_providers_are_found_and_broken_ones_skipped() -> None:
    registry = ProviderRegistry.load([
        _entry("outside", f"{__name__}:OutsideProvider"),
        _entry("broken", "no.such.module:Provider"),
    ])
    assert registry.names() == ["outside", "socks-api"]
    assert "socks-api" in ProviderPlugin.registered()
    built = registry.create("socks-api", CONFIG)
    assert isinstance(built, SocksApiProvider) and isinstance(built, UpstreamProvider)
    outside = registry.create("outside", CONFIG)
    assert isinstance(outside, UpstreamProvider) and outside.name == "outside"
    with pytest.raises(UnknownProvider):
        registry.create("nope", CONFIG)


def test_the_adapter_reads_the_providers_product_shape() -> None:
    product = product_from({"product_id": 7, "proxy_id": 9, "ip": "1.2.3.4",
                            "country": "United States", "country_code": "us",
                            "city": "New York", "ISP": "AT&T", "speed": "388",
                            "mobile": True, "hosting": False, "status": 1})
    assert (product.country_code, product.isp, product.speed, product.kind.value) == (
        "US", "AT&T", 388, "mobile")
