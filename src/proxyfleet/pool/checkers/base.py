"""What a checker is (`Checker`), what it is given (`CheckContext`) and what it answers
(`CheckOutcome`), and `CheckerPlugin`, the base class through which built-ins register.

A checker looks at one proxy in one stage of the pipeline. Stages run in order (`Stage`);
within a stage, checkers run by ascending `priority`. Findings of earlier stages (the exit IP
found through the proxy, say) reach later ones through `CheckContext.findings`.
Imports only `core` and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, runtime_checkable

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol

_T = TypeVar("_T")


class Stage(enum.IntEnum):
    CONNECT = 1
    PROTOCOL = 2
    ENRICH = 3


@dataclass(frozen=True, slots=True)
class Findings:
    """What the checks learnt about a proxy; `None` means not (yet) known."""

    exit_ip: str | None = None
    anonymity: Anonymity | None = None
    country: str | None = None
    protocol: ProxyProtocol | None = None

    def merged(self, newer: Findings) -> Findings:
        """These findings, overwritten by whatever `newer` knows."""
        return Findings(
            exit_ip=_latest(newer.exit_ip, self.exit_ip),
            anonymity=_latest(newer.anonymity, self.anonymity),
            country=_latest(newer.country, self.country),
            protocol=_latest(newer.protocol, self.protocol),
        )


def _latest(newer: _T | None, older: _T | None) -> _T | None:
    return older if newer is None else newer


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Handoff:
    """A connection to the proxy passed from one stage to the next: `tcp_connect` opens it,
    the protocol check speaks through it, so each proxy costs one connection, not two."""

    __slots__ = ("_streams",)

    def __init__(self) -> None:
        self._streams: Streams | None = None

    def give(self, streams: Streams) -> None:
        self.close()
        self._streams = streams

    def take(self) -> Streams | None:
        streams, self._streams = self._streams, None
        return streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a check needs besides the proxy.

    `own_ip` is our public address as the judge sees it when asked directly (see
    `judging.own_public_ip`); `timeout` bounds each checker's whole check, in seconds.
    """

    judge_url: str
    own_ip: str
    timeout: float = 10.0
    findings: Findings = field(default_factory=Findings)
    handoff: Handoff | None = None


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    passed: bool
    latency_ms: float | None
    detail: str
    findings: Findings = field(default_factory=Findings)

    @classmethod
    def failed(cls, detail: str, latency_ms: float | None = None) -> CheckOutcome:
        return cls(passed=False, latency_ms=latency_ms, detail=detail)


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started`, a `time.perf_counter()` reading: a check's latency."""
    return round((time.perf_counter() - started) * 1000, 3)


class CheckRecord(NamedTuple):
    """One checker's verdict on one proxy, as the history stores it."""

    checker_name: str
    stage: int
    passed: bool
    latency_ms: float | None
    detail: str


@runtime_checkable
class Checker(Protocol):
    """One check of the pipeline."""

    @property
    def name(self) -> str: ...

    @property
    def stage(self) -> int: ...

    @property
    def priority(self) -> int: ...

    def applies_to(self, proxy: ProxyAddress) -> bool:
        """Whether this check makes sense for this proxy (say, its protocol)."""
        ...

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        """The verdict. Network trouble is a failed outcome, not an exception."""
        ...


class CheckerPlugin:
    """Base of self-registering checkers: a subclass that sets `name` is registered."""

    name: str
    stage: int
    priority: int = 100

    _catalogue: ClassVar[dict[str, type[CheckerPlugin]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only classes that name themselves are checkers; the rest are shared bases.
        if "name" in cls.__dict__:
            CheckerPlugin._catalogue[cls.name] = cls

    @classmethod
    def registered(cls) -> list[type[CheckerPlugin]]:
        return list(CheckerPlugin._catalogue.values())

    def applies_to(self, proxy: ProxyAddress) -> bool:
        return True

    async def check(self, proxy: ProxyAddress, ctx: CheckContext) -> CheckOutcome:
        raise NotImplementedError
