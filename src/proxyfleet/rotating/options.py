"""The options a gateway username carries, in the syntax commercial providers use:
`user`, `user-country-us`, `user-session-abc123-sesstime-30`, `user-anonymity-elite`,
`user-protocol-socks5`, `user-minscore-0.8`, `user-hard`, `user-exit-ipv6`, in any
combination and order; and `user-order-ORD-12345` (or `user-order-12345`), alone: the exit is
the proxy the caller bought in the shop under that order, a private exit of theirs. The
password is the API key; the name before the first option is a label only, without hyphens,
so that a mistyped option is refused rather than taken for part of the name.

Pure: imports `core` and the standard library.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from proxyfleet.core.errors import InvalidInput
from proxyfleet.core.proxies import Anonymity, ProxyProtocol

DEFAULT_SESSION_MINUTES = 10
MAX_SESSION_MINUTES = 24 * 60
_SESSION_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_USER = re.compile(r"^[A-Za-z0-9_.@+]+$")
_DECIMAL = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,20})?$")
_ORDER = re.compile(r"^[0-9]{1,18}$")
# The shop's order ids read `ORD-12345`; the option takes them as printed.
_ORDER_PREFIX = "ord"
E = TypeVar("E", bound=enum.StrEnum)


class BadOptions(InvalidInput):
    code = "BAD_GATEWAY_OPTIONS"


class Egress(enum.StrEnum):
    """Where a connection leaves from: a pool proxy, or one of our own IPv6 addresses."""

    POOL = "pool"
    IPV6 = "ipv6"


class Keyword(enum.StrEnum):
    COUNTRY = "country"
    SESSION = "session"
    SESSTIME = "sesstime"
    ANONYMITY = "anonymity"
    PROTOCOL = "protocol"
    MINSCORE = "minscore"
    HARD = "hard"
    EXIT = "exit"
    ORDER = "order"


_FLAGS = frozenset({Keyword.HARD})


@dataclass(frozen=True, slots=True)
class ExitOptions:
    """What a client asked for in its username. `session_minutes` is None when the username
    does not say (the default, `DEFAULT_SESSION_MINUTES`, then applies)."""

    user: str
    country: str | None = None
    session: str | None = None
    session_minutes: int | None = None
    anonymity: Anonymity | None = None
    protocol: ProxyProtocol | None = None
    min_score: float | None = None
    hard: bool = False
    egress: Egress = Egress.POOL
    order: int | None = None
    """The shop order whose bought proxy is the only exit (None: the pool)."""

    @property
    def sticky_seconds(self) -> float:
        return 60.0 * (self.session_minutes or DEFAULT_SESSION_MINUTES)


@functools.lru_cache(maxsize=4096)
def parse_username(text: str) -> ExitOptions:
    """The options in a username; `BadOptions` names what is wrong with it. Remembers recent
    answers (a client logs in with the same username connection after connection, and
    `ExitOptions` is immutable); refusals raise every time."""
    user, *rest = text.split("-")
    if not _USER.match(user) or _keyword(user) is not None:
        raise BadOptions("The username must start with a name (letters, digits, _ . @ +).",
                         {"option": "user"})
    found: dict[Keyword, str] = {}
    while rest:
        keyword = _keyword(rest[0])
        if keyword is None:
            raise BadOptions(f"Unknown username option {rest[0]!r}.", {"option": rest[0]})
        if keyword in found:
            raise BadOptions(f"Username option {keyword.value!r} given twice.",
                             {"option": keyword.value})
        if keyword in _FLAGS:
            found[keyword], rest = "", rest[1:]
            continue
        if len(rest) < 2 or not rest[1]:
            raise BadOptions(f"Username option {keyword.value!r} needs a value.",
                             {"option": keyword.value})
        if keyword is Keyword.ORDER and rest[1].lower() == _ORDER_PREFIX and len(rest) > 2:
            rest = rest[1:]  # `order-ORD-12345`: the number follows the prefix
        found[keyword], rest = rest[1], rest[2:]
    return _options(user, found)


def _keyword(token: str) -> Keyword | None:
    try:
        return Keyword(token.lower())
    except ValueError:
        return None


def _options(user: str, found: dict[Keyword, str]) -> ExitOptions:
    session = found.get(Keyword.SESSION)
    if session is not None and not _SESSION_ID.match(session):
        raise BadOptions("A session id is 1-64 letters, digits or _.", {"option": "session"})
    minutes = _session_minutes(found.get(Keyword.SESSTIME))
    if (minutes is not None or Keyword.HARD in found) and session is None:
        raise BadOptions("sesstime and hard go with a session.", {"option": "session"})
    if Keyword.ORDER in found and len(found) > 1:
        raise BadOptions("order names one exit: it goes with no other option.",
                         {"option": "order"})
    return ExitOptions(
        user=user,
        country=_country(found.get(Keyword.COUNTRY)),
        session=session,
        session_minutes=minutes,
        anonymity=_choice(Anonymity, Keyword.ANONYMITY, found.get(Keyword.ANONYMITY)),
        protocol=_choice(ProxyProtocol, Keyword.PROTOCOL, found.get(Keyword.PROTOCOL)),
        min_score=_min_score(found.get(Keyword.MINSCORE)),
        hard=Keyword.HARD in found,
        egress=_choice(Egress, Keyword.EXIT, found.get(Keyword.EXIT)) or Egress.POOL,
        order=_order(found.get(Keyword.ORDER)),
    )


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    if not _COUNTRY.match(value):
        raise BadOptions("A country is two letters (ISO 3166-1).", {"option": "country"})
    return value.upper()


def _order(value: str | None) -> int | None:
    if value is None:
        return None
    if not _ORDER.match(value):
        raise BadOptions("order is an order id, like ORD-12345.", {"option": "order"})
    return int(value)


def _session_minutes(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_SESSION_MINUTES:
        raise BadOptions(f"sesstime is whole minutes, 1 to {MAX_SESSION_MINUTES}.",
                         {"option": "sesstime"})
    return int(value)


def _min_score(value: str | None) -> float | None:
    if value is None:
        return None
    score = float(value) if _DECIMAL.match(value) else math.nan
    if not 0.0 <= score <= 1.0:  # NaN fails this too
        raise BadOptions("minscore is a number from 0 to 1.", {"option": "minscore"})
    return score


def _choice(kind: type[E], keyword: Keyword, value: str | None) -> E | None:
    if value is None:
        return None
    try:
        return kind(value.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise BadOptions(f"{keyword.value} is one of {allowed}.",
                         {"option": keyword.value}) from None


def format_username(options: ExitOptions) -> str:
    """The username that carries `options` (parse_username's inverse)."""
    parts = [options.user]
    pairs: list[tuple[Keyword, object]] = [
        (Keyword.COUNTRY, options.country and options.country.lower()),
        (Keyword.SESSION, options.session), (Keyword.SESSTIME, options.session_minutes),
        (Keyword.ANONYMITY, options.anonymity), (Keyword.PROTOCOL, options.protocol),
        (Keyword.MINSCORE, None if options.min_score is None else _decimal(options.min_score)),
        (Keyword.EXIT, None if options.egress is Egress.POOL else options.egress),
        (Keyword.ORDER, options.order),
    ]
    for keyword, value in pairs:
        if value is not None:
            parts += [keyword.value, str(value)]
    if options.hard:
        parts.append(Keyword.HARD.value)
    return "-".join(parts)


def _decimal(value: float) -> str:
    """A score as plain decimal digits (no exponent, whose sign would read as a separator)."""
    return format(Decimal(repr(value)), "f")
