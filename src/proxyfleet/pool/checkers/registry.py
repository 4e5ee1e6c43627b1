"""The checker registry: checkers by name, grouped into ordered stages, and discovery of
outside checkers.

Built-in checkers register themselves (`CheckerPlugin`); outside packages add theirs through
the `proxyfleet.checkers` entry point group, naming a checker class or instance. A broken
outside checker is logged and skipped. The registry is built by the composition root (or a
test), never at import. Imports `core`, this package and structlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import TypedDict

import structlog

from proxyfleet.pool.checkers.base import Checker, CheckerPlugin

ENTRY_POINT_GROUP = "proxyfleet.checkers"

log = structlog.get_logger(__name__)


class CheckerDescription(TypedDict):
    name: str
    stage: int
    priority: int


def _as_checker(loaded: object) -> Checker | None:
    """An entry point's object as a checker: a checker class is instantiated."""
    candidate = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(candidate, Checker):
        return None
    fields_ok = isinstance(candidate.name, str) and candidate.name
    numbers_ok = isinstance(candidate.stage, int) and isinstance(candidate.priority, int)
    return candidate if fields_ok and numbers_ok else None


class CheckerRegistry:
    def __init__(self, checkers: Iterable[Checker] = ()) -> None:
        self._checkers: dict[str, Checker] = {}
        for checker in checkers:
            self.add(checker)

    @classmethod
    def self_registered(cls) -> CheckerRegistry:
        """The checkers that registered themselves by subclassing `CheckerPlugin`."""
        return cls(plugin() for plugin in CheckerPlugin.registered())

    @classmethod
    def load(cls, entry_points: Iterable[metadata.EntryPoint] | None = None) -> CheckerRegistry:
        """Self-registered checkers plus those the installed packages declare."""
        registry = cls.self_registered()
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        registry.discover(found if entry_points is None else entry_points)
        return registry

    def add(self, checker: Checker) -> None:
        if checker.name in self._checkers:
            raise ValueError(f"a checker named {checker.name!r} is already registered")
        self._checkers[checker.name] = checker

    def discover(self, entry_points: Iterable[metadata.EntryPoint]) -> None:
        for entry_point in entry_points:
            self._add_discovered(entry_point)

    def _add_discovered(self, entry_point: metadata.EntryPoint) -> None:
        # Anything can go wrong in someone else's package; it must not stop the checking.
        try:
            checker = _as_checker(entry_point.load())
        except Exception as error:
            log.warning("checker_plugin_broken", entry_point=entry_point.value, error=repr(error))
            return
        if checker is None:
            log.warning("checker_plugin_invalid", entry_point=entry_point.value)
        elif type(self._checkers.get(checker.name)) is type(checker):
            return  # a self-registered class also declared as an entry point
        elif checker.name in self._checkers:
            log.warning("checker_plugin_duplicate", entry_point=entry_point.value,
                        checker=checker.name)
        else:
            self._checkers[checker.name] = checker

    def names(self) -> list[str]:
        return sorted(self._checkers)

    def __contains__(self, name: object) -> bool:
        return name in self._checkers

    def ordered(self) -> list[Checker]:
        """Every checker in running order: by stage, then priority, then name."""
        return sorted(self._checkers.values(), key=lambda c: (c.stage, c.priority, c.name))

    def stages(self) -> list[tuple[int, list[Checker]]]:
        """The stages in running order, each with its checkers in running order."""
        grouped: dict[int, list[Checker]] = {}
        for checker in self.ordered():
            grouped.setdefault(checker.stage, []).append(checker)
        return list(grouped.items())

    def describe(self) -> list[CheckerDescription]:
        """What `GET /stats/plugins` lists, in running order."""
        return [CheckerDescription(name=c.name, stage=c.stage, priority=c.priority)
                for c in self.ordered()]
