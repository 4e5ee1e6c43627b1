"""The provider registry: provider factories by name, and discovery of outside providers.

Built-in providers register themselves (`ProviderPlugin`); outside packages add theirs
through the `proxyfleet.providers` entry point group, naming a callable that takes a
`ProviderConfig` and returns an `UpstreamProvider`. A broken outside provider is logged and
skipped. Built by the composition root, never at import. Imports `core`, this package and
structlog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import cast

import structlog

from proxyfleet.core.errors import InvalidInput
from proxyfleet.shop.providers import socks_api  # noqa: F401  (registers the built-in)
from proxyfleet.shop.providers.base import ProviderConfig, ProviderPlugin, UpstreamProvider

ENTRY_POINT_GROUP = "proxyfleet.providers"

log = structlog.get_logger(__name__)

Factory = Callable[[ProviderConfig], UpstreamProvider]


class UnknownProvider(InvalidInput):
    code = "UNKNOWN_PROVIDER"


class ProviderRegistry:
    def __init__(self, factories: dict[str, Factory] | None = None) -> None:
        self._factories: dict[str, Factory] = dict(factories or {})

    @classmethod
    def load(cls, entry_points: Iterable[metadata.EntryPoint] | None = None) -> ProviderRegistry:
        """Self-registered providers plus those the installed packages declare."""
        registry = cls({name: cast(Factory, plugin)
                        for name, plugin in ProviderPlugin.registered().items()})
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in entry_points:
            registry._discover(entry_point)
        return registry

    def _discover(self, entry_point: metadata.EntryPoint) -> None:
        # Anything can go wrong in someone else's package; it must not stop the service.
        try:
            factory = entry_point.load()
        except Exception as error:
            log.warning("provider_plugin_broken", entry_point=entry_point.value,
                        error=repr(error))
            return
        name = getattr(factory, "name", None) or entry_point.name
        if not callable(factory) or not isinstance(name, str):
            log.warning("provider_plugin_invalid", entry_point=entry_point.value)
        elif name not in self._factories:
            self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, config: ProviderConfig) -> UpstreamProvider:
        try:
            factory = self._factories[name]
        except KeyError:
            raise UnknownProvider(f"No upstream provider named {name!r}.",
                                  {"provider": name, "available": self.names()}) from None
        return factory(config)
