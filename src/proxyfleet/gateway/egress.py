"""Local IPv6 egress (seed 004): random never-used addresses within a prefix, the two ways of
making them bindable (`assign`: a /128 on the interface; `anyip`: the prefix routed locally and
sockets bound with IPV6_FREEBIND), the `ip` commands behind them, and `Ipv6Dialer`, which
leaves from one such address and reaches IPv6 targets only (AAAA records only, never IPv4).

May import `proxyfleet.core`, the gateway engine and the standard library.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import random
import socket
from collections.abc import Callable, Collection
from typing import Protocol

from proxyfleet.core.errors import Conflict, DomainError, ErrorKind, InvalidInput
from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.leg import Leg
from proxyfleet.wire.target import HostKind, Target

log = logging.getLogger(__name__)

IP_COMMAND_TIMEOUT = 5.0
RESOLVE_TIMEOUT = 5.0
# Linux socket options; `socket` exports neither on every Python build.
IPV6_FREEBIND = 78
IP_FREEBIND = 15
# Prefixes this small are allocated by listing their free addresses; larger ones by draws.
ENUMERABLE_ADDRESSES = 1 << 16
RANDOM_DRAWS = 32


class EgressMode(enum.StrEnum):
    ASSIGN = "assign"
    """Add each address to the interface as a /128 (what seed 004 does)."""
    ANYIP = "anyip"
    """Route the whole prefix to `lo` once and bind any address of it without adding it."""


class UnknownInterface(InvalidInput):
    code = "UNKNOWN_INTERFACE"


class PrefixExhausted(Conflict):
    code = "PREFIX_EXHAUSTED"


class AssignFailed(DomainError):
    """The host refused to make an address bindable (no permission, no `ip`, …)."""

    kind = ErrorKind.INTERNAL
    code = "IPV6_ASSIGN_FAILED"


class IpCommandFailed(Exception):
    def __init__(self, args: tuple[str, ...], reason: str) -> None:
        super().__init__(f"ip {' '.join(args)}: {reason}")
        self.reason = reason

    @property
    def already_exists(self) -> bool:
        # Old iproute2 relays the kernel's EEXIST; newer prints the extended ack message.
        return "File exists" in self.reason or "already assigned" in self.reason


# ---------------------------------------------------------------- addresses within a prefix

def parse_prefix(text: str) -> ipaddress.IPv6Network:
    """An IPv6 network such as `2001:db8:1:2::/64` (host bits must be zero)."""
    return ipaddress.IPv6Network(text, strict=True)


def capacity(prefix: ipaddress.IPv6Network) -> int:
    """Addresses an instance may get: all but the all-zero (subnet-router anycast) one."""
    return max(prefix.num_addresses - 1, 0)


def random_address(prefix: ipaddress.IPv6Network, rng: random.Random) -> str:
    offset = rng.randrange(1, prefix.num_addresses)
    return str(prefix.network_address + offset)


def free_addresses(prefix: ipaddress.IPv6Network, used: Collection[str]) -> list[str]:
    """Every address of a small prefix not in `used`."""
    first = prefix.network_address
    every_one = (str(first + offset) for offset in range(1, prefix.num_addresses))
    return [address for address in every_one if address not in used]


def candidates(prefix: ipaddress.IPv6Network, used: Collection[str],
               rng: random.Random) -> list[str]:
    """Fresh addresses to try, best first; empty when the prefix is used up."""
    if len(used) >= capacity(prefix):
        return []
    if prefix.num_addresses <= ENUMERABLE_ADDRESSES:
        free = free_addresses(prefix, used)
        rng.shuffle(free)
        return free[:RANDOM_DRAWS]
    draws = (random_address(prefix, rng) for _ in range(RANDOM_DRAWS))
    return [address for address in draws if address not in used]


# ---------------------------------------------------------------- the host: `ip` and interfaces

class IpRunner(Protocol):
    async def __call__(self, *args: str) -> None: ...


async def run_ip(*args: str) -> None:
    """`ip ARGS…`, under a time limit; a failure raises `IpCommandFailed` with ip's message."""
    try:
        process = await asyncio.create_subprocess_exec(
            "ip", *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise IpCommandFailed(args, f"cannot run ip: {exc}") from exc
    try:
        async with asyncio.timeout(IP_COMMAND_TIMEOUT):
            _, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise IpCommandFailed(args, f"no answer within {IP_COMMAND_TIMEOUT} s") from None
    if process.returncode != 0:
        raise IpCommandFailed(args, stderr.decode(errors="replace").strip())


def interface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


class Egress(Protocol):
    """Makes addresses of a prefix bindable on the host, and undoes it."""

    mode: EgressMode
    freebind: bool

    async def prepare(self, interface: str, prefix: ipaddress.IPv6Network) -> None: ...

    async def claim(self, interface: str, address: str, *, restoring: bool = False) -> None: ...

    async def release(self, interface: str, address: str) -> None: ...


def _assign_failed(exc: IpCommandFailed, address: str) -> AssignFailed:
    return AssignFailed("Failed to assign IPv6", {"address": address, "reason": exc.reason})


class AssignEgress:
    """`ip -6 addr add ADDR/128 dev IF nodad preferred_lft 0` per instance: `nodad` so the
    address binds at once, `preferred_lft 0` so the host never picks it as its own source."""

    mode = EgressMode.ASSIGN
    freebind = False

    def __init__(self, ip: IpRunner = run_ip) -> None:
        self._ip = ip

    async def prepare(self, interface: str, prefix: ipaddress.IPv6Network) -> None:
        return None

    async def claim(self, interface: str, address: str, *, restoring: bool = False) -> None:
        try:
            await self._ip("-6", "addr", "add", f"{address}/128", "dev", interface,
                           "nodad", "preferred_lft", "0")
        except IpCommandFailed as exc:
            if not (restoring and exc.already_exists):
                raise _assign_failed(exc, address) from exc

    async def release(self, interface: str, address: str) -> None:
        try:
            await self._ip("-6", "addr", "del", f"{address}/128", "dev", interface)
        except IpCommandFailed as exc:  # already gone (interface removed, or by hand)
            log.warning("could not remove %s from %s: %s", address, interface, exc.reason)


class AnyIpEgress:
    """`ip -6 route replace local PREFIX dev lo`, once per prefix; sockets then bind any
    address of it with IPV6_FREEBIND, so nothing is added per instance."""

    mode = EgressMode.ANYIP
    freebind = True

    def __init__(self, ip: IpRunner = run_ip) -> None:
        self._ip = ip
        self._routed: set[ipaddress.IPv6Network] = set()

    async def prepare(self, interface: str, prefix: ipaddress.IPv6Network) -> None:
        if prefix in self._routed:
            return
        try:
            await self._ip("-6", "route", "replace", "local", str(prefix), "dev", "lo")
        except IpCommandFailed as exc:
            raise _assign_failed(exc, str(prefix)) from exc
        self._routed.add(prefix)

    async def claim(self, interface: str, address: str, *, restoring: bool = False) -> None:
        return None

    async def release(self, interface: str, address: str) -> None:
        return None


EGRESS_BY_MODE: dict[EgressMode, Callable[[IpRunner], Egress]] = {
    EgressMode.ASSIGN: AssignEgress,
    EgressMode.ANYIP: AnyIpEgress,
}


def egress_for(mode: EgressMode, ip: IpRunner = run_ip) -> Egress:
    return EGRESS_BY_MODE[mode](ip)


# ---------------------------------------------------------------- resolving and dialing

class Resolver(Protocol):
    """The addresses of `host` of one family (AF_INET6: its AAAA records)."""

    async def addresses(self, host: str, family: socket.AddressFamily) -> list[str]: ...


class SystemResolver:
    """The host's resolver (getaddrinfo) asked for one family only, so no IPv4-mapped
    answers are synthesised."""

    async def addresses(self, host: str, family: socket.AddressFamily) -> list[str]:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            found = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in found))


def _native_ipv6(address: str) -> bool:
    parsed = ipaddress.ip_address(address)
    return parsed.version == 6 and parsed.ipv4_mapped is None


class Ipv6Dialer:
    """Leaves from `source` and reaches IPv6 targets only: IPv4 literals are refused, names
    resolve through AAAA records alone (none → `DialFailure.NO_IPV6`: HTTP "502 Bad Gateway -
    IPv6 Only", as seed 004 answers; SOCKS5 host unreachable). With `freebind` the source
    need not be configured on the host."""

    def __init__(self, source: str, resolver: Resolver, *, freebind: bool = False) -> None:
        self.source = source
        self._resolver = resolver
        self._freebind = freebind

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        error: OSError = DialError(DialFailure.NO_IPV6, target)
        for address in await self.resolve(target):
            try:
                return await self._connect(address, target.port, make_leg)
            except OSError as exc:
                error = exc
        raise error

    async def resolve(self, target: Target) -> list[str]:
        if target.kind is HostKind.IPV4:
            raise DialError(DialFailure.NETWORK_UNREACHABLE, target)
        if target.kind is HostKind.IPV6:
            return [target.host]
        try:
            found = await self._resolver.addresses(target.host, socket.AF_INET6)
        except (OSError, UnicodeError) as exc:  # gaierror and TimeoutError are OSErrors
            raise DialError(DialFailure.NO_IPV6, target) from exc
        return [address for address in found if _native_ipv6(address)]

    async def _connect(self, address: str, port: int, make_leg: Callable[[], Leg]) -> Leg:
        loop = asyncio.get_running_loop()
        sock = self._bound_socket()
        try:
            await loop.sock_connect(sock, (address, port, 0, 0))
            _, leg = await loop.create_connection(make_leg, sock=sock)
        except BaseException:
            sock.close()
            raise
        return leg

    def _bound_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if self._freebind:
                _set_freebind(sock)
            sock.bind((self.source, 0, 0, 0))
        except BaseException:
            sock.close()
            raise
        return sock


def _set_freebind(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    except OSError:  # kernels before 4.15 know only the IPv4-level option, which v6 honours
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
