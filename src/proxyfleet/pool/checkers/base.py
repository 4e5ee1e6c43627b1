"""What a checker is (`Checker`), what it is given (`CheckContext`) and what it answers
(`CheckOutcome`), and `CheckerPlugin`, the base class through which built-ins register.

A checker looks at one proxy in one stage of the pipeline. Stages run in order (`Stage`);
within a stage, checkers run by ascending `priority`. Findings of earlier stages (the exit IP
found through the proxy, say) reach later ones through `CheckContext.findings`.
Imports `core`, `link` (for `Handoff`'s type) and the standard library.
"""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeVar, runtime_checkable

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol

if TYPE_CHECKING:
    from proxyfleet.pool.checkers.link import ProxyLink

_T = TypeVar("_T")


class Stage(enum.IntEnum):
    CONNECT = 1
    PROTOCOL = 2
    ENRICH = 3


# The values a check passes along are named tuples: immutable like frozen dataclasses, and
# several are made per check, where a tuple costs a fraction of a dataclass's __init__. The
# hot paths make them with `tuple.__new__` itself (`_tuple`), skipping even the named
# tuple's own constructor, a Python function. The rest of the package imports it from here,
# for its own named tuples too (`conversation.Step`).
_tuple = tuple.__new__


class Findings(NamedTuple):
    """What the checks learnt about a proxy; `None` means not (yet) known."""

    exit_ip: str | None = None
    anonymity: Anonymity | None = None
    country: str | None = None
    protocol: ProxyProtocol | None = None

    def merged(self, newer: Findings) -> Findings:
        """These findings, overwritten by whatever `newer` knows."""
        if newer is NO_FINDINGS or newer == NO_FINDINGS:
            return self  # most checks learn nothing new: spare the copy
        if self is NO_FINDINGS:
            return newer  # the first check that learns something: nothing to overwrite
        return _tuple(Findings, (_latest(newer.exit_ip, self.exit_ip),
                                 _latest(newer.anonymity, self.anonymity),
                                 _latest(newer.country, self.country),
                                 _latest(newer.protocol, self.protocol)))


NO_FINDINGS = Findings()


def _latest(newer: _T | None, older: _T | None) -> _T | None:
    return older if newer is None else newer


class Handoff:
    """A connection to the proxy passed from one stage to the next: `tcp_connect` opens it,
    the protocol check speaks through it, so each proxy costs one connection, not two."""

    __slots__ = ("_link",)

    def __init__(self) -> None:
        self._link: ProxyLink | None = None

    def give(self, link: ProxyLink) -> None:
        self.close()
        self._link = link

    def take(self) -> ProxyLink | None:
        link, self._link = self._link, None
        return link

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None


class CheckContext(NamedTuple):
    """Everything a check needs besides the proxy.

    `own_ip` is our public address as the judge sees it when asked directly (see
    `judging.own_public_ip`); `timeout` bounds each checker's whole check, in seconds.
    """

    judge_url: str
    own_ip: str
    timeout: float = 10.0
    findings: Findings = NO_FINDINGS
    handoff: Handoff | None = None

    def with_findings(self, findings: Findings) -> CheckContext:
        return _tuple(CheckContext, (self.judge_url, self.own_ip, self.timeout, findings,
                                     self.handoff))

    def with_handoff(self, handoff: Handoff) -> CheckContext:
        return _tuple(CheckContext, (self.judge_url, self.own_ip, self.timeout, self.findings,
                                     handoff))


class CheckOutcome(NamedTuple):
    passed: bool
    latency_ms: float | None
    detail: str
    findings: Findings = NO_FINDINGS

    @classmethod
    def failed(cls, detail: str, latency_ms: float | None = None) -> CheckOutcome:
        return _tuple(cls, (False, latency_ms, detail, NO_FINDINGS))


def outcome(passed: bool, latency_ms: float | None, detail: str,
            findings: Findings = NO_FINDINGS) -> CheckOutcome:
    """`CheckOutcome(...)` for the built-in checks' hot paths: the same value, made cheaper."""
    return _tuple(CheckOutcome, (passed, latency_ms, detail, findings))


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started`, a `time.perf_counter()` reading: a check's latency."""
    # round(x, 3) goes through decimal digits; whole microseconds over 1000 is the same number.
    return round((time.perf_counter() - started) * 1_000_000) / 1000


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
