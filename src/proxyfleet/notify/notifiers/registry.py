"""The notifier registry: plugins by name, and discovery of outside ones.

Built-in notifiers register themselves (`NotifierPlugin`); outside packages add theirs through
the `proxyfleet.notifiers` entry point group, naming a plugin class. A broken outside plugin
is logged and skipped. Built by the composition root, never at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

import structlog
from pydantic import BaseModel

from proxyfleet.core.errors import InvalidInput
from proxyfleet.notify.notifiers.base import NotifierKind, NotifierPlugin

ENTRY_POINT_GROUP = "proxyfleet.notifiers"

log = structlog.get_logger(__name__)


class UnknownNotifier(InvalidInput):
    code = "UNKNOWN_NOTIFIER"


def _as_kind(loaded: object) -> NotifierKind | None:
    config = getattr(loaded, "Config", None)
    name = getattr(loaded, "name", None)
    if (isinstance(loaded, type) and isinstance(name, str) and name
            and isinstance(config, type) and issubclass(config, BaseModel)):
        return loaded  # type: ignore[return-value]
    return None


class NotifierRegistry:
    def __init__(self, kinds: Iterable[NotifierKind] = ()) -> None:
        self._kinds: dict[str, NotifierKind] = {}
        for kind in kinds:
            self.add(kind)

    @classmethod
    def load(cls, entry_points: Iterable[metadata.EntryPoint] | None = None) -> NotifierRegistry:
        """Self-registered notifiers plus those the installed packages declare."""
        registry = cls(NotifierPlugin.registered())  # type: ignore[arg-type]
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        registry.discover(found if entry_points is None else entry_points)
        return registry

    def add(self, kind: NotifierKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"a notifier named {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    def discover(self, entry_points: Iterable[metadata.EntryPoint]) -> None:
        for entry_point in entry_points:
            # Anything can go wrong in someone else's package; it must not stop the service.
            try:
                kind = _as_kind(entry_point.load())
            except Exception as error:
                log.warning("notifier_plugin_broken", entry_point=entry_point.value,
                            error=repr(error))
                continue
            if kind is None:
                log.warning("notifier_plugin_invalid", entry_point=entry_point.value)
            elif self._kinds.get(kind.name) is kind:
                continue
            elif kind.name in self._kinds:
                log.warning("notifier_plugin_duplicate", entry_point=entry_point.value,
                            notifier=kind.name)
            else:
                self._kinds[kind.name] = kind

    def get(self, name: str) -> NotifierKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownNotifier(f"No notifier named {name!r}.",
                                  {"name": name, "available": self.names()}) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)
