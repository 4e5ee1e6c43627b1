"""A proxy farm on loopback: HTTP (with CONNECT), SOCKS4(a) and SOCKS5 proxies with declared
behaviours, each on its own 127.x.y.z address and egressing from another one of its own.

`FarmSpec` says how many proxies of each (protocol, behaviour) to run; `Farm` runs them (async
context manager) and lists them with the truth a checker must find (`ProxyTruth`). Linux
loopback answers on all of 127/8 with no set-up, so 10,000 proxies need 10,000 listening
sockets and nothing else; the farm raises its file descriptor limit to the hard limit.

Behaviours: `elite` adds nothing; `anonymous` adds proxy headers with a fake client address;
`transparent` gives our address away — an HTTP proxy in X-Forwarded-For, Forwarded or
X-Real-IP, a tunnel (HTTPS via CONNECT, SOCKS), which cannot touch the bytes it carries, by
egressing from the host's own 127.0.0.1; `slow` answers after a delay; `flaky` drops a given
fraction of requests, the first one included; `auth` wants credentials; `dead` has nothing
listening. Each connection is a `sim.connection.Connection`: its protocol's handshake is read
in phases from its `data_received`, answered from bytes made once, then relayed in callbacks;
one `sim.deadlines.Deadlines` bounds every connection's life. Imports `core`,
`pool.checkers.handshakes`, `wire` (constants), `sim.judge`, `sim.connection`,
`sim.deadlines` and the standard library.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import errno
import functools
import ipaddress
import resource
import socket
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from proxyfleet.core.proxies import Anonymity, ProxyAddress, ProxyProtocol
from proxyfleet.pool.checkers.handshakes import http_request
from proxyfleet.sim.connection import Connection, Upstream
from proxyfleet.sim.deadlines import Deadlines
from proxyfleet.sim.judge import Headers, parse_request_head, response
from proxyfleet.wire.socks4 import VERSION as SOCKS4_VERSION
from proxyfleet.wire.socks4 import Socks4Command, Socks4Reply
from proxyfleet.wire.socks5 import VERSION as SOCKS5_VERSION
from proxyfleet.wire.socks5 import Socks5AddressType, Socks5Command, Socks5Method, Socks5Reply

HOST_ADDRESS = "127.0.0.1"
DEAD_PORT = 1  # nothing listens on port 1 of a farm address: connecting is refused
ADDRESSES_PER_PREFIX = 256 * 250
MAX_HEAD = 16 * 1024


class Behaviour(enum.StrEnum):
    ELITE = "elite"
    ANONYMOUS = "anonymous"
    TRANSPARENT = "transparent"
    SLOW = "slow"
    FLAKY = "flaky"
    AUTH = "auth"
    DEAD = "dead"


TUNNEL_PROTOCOLS = frozenset({ProxyProtocol.HTTPS, ProxyProtocol.SOCKS4, ProxyProtocol.SOCKS5})
Kind = tuple[ProxyProtocol, Behaviour]


def valid_kind(protocol: ProxyProtocol, behaviour: Behaviour) -> bool:
    # A tunnel carries bytes it cannot rewrite: it can hide us entirely or not at all.
    return not (behaviour is Behaviour.ANONYMOUS and protocol in TUNNEL_PROTOCOLS)


def every_kind() -> list[Kind]:
    return [(p, b) for p in ProxyProtocol for b in Behaviour if valid_kind(p, b)]


@dataclass(frozen=True, slots=True)
class FarmSpec:
    """How many proxies of each kind, and how the behaviours behave."""

    counts: Mapping[Kind, int]
    slow_delay: float = 0.25
    flaky_fraction: float = 0.5
    listen_prefix: str = "127.71"
    egress_prefix: str = "127.72"
    io_timeout: float = 30.0

    def __post_init__(self) -> None:
        bad = [kind for kind in self.counts if not valid_kind(*kind)]
        if bad:
            raise ValueError(f"tunnels cannot add headers, so they cannot be anonymous: {bad}")
        if any(count < 0 for count in self.counts.values()):
            raise ValueError("counts cannot be negative")
        if self.total > ADDRESSES_PER_PREFIX:
            raise ValueError(f"a farm holds at most {ADDRESSES_PER_PREFIX} proxies")
        if not 0 < self.flaky_fraction <= 1:
            raise ValueError("flaky_fraction must be in (0, 1]")

    @classmethod
    def of_every_kind(cls, per_kind: int, **options: Any) -> FarmSpec:
        return cls(counts=dict.fromkeys(every_kind(), per_kind), **options)

    @classmethod
    def spread(cls, total: int, **options: Any) -> FarmSpec:
        """`total` proxies spread as evenly as possible over every kind."""
        kinds = every_kind()
        share, extra = divmod(total, len(kinds))
        counts = {kind: share + (1 if i < extra else 0) for i, kind in enumerate(kinds)}
        return cls(counts=counts, **options)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def kinds(self) -> Iterator[Kind]:
        """One kind per proxy, in order."""
        for kind, count in self.counts.items():
            for _ in range(count):
                yield kind


@dataclass(frozen=True, slots=True)
class ProxyTruth:
    """What a correct checker finds about a farm proxy.

    `alive` is the verdict of its first check (a flaky proxy drops its first request);
    `anonymity` and `exit_ip` are what any successful check finds (None for a dead proxy).
    """

    behaviour: Behaviour
    protocol: ProxyProtocol
    alive: bool
    anonymity: Anonymity | None
    exit_ip: str | None
    min_latency_ms: float = 0.0
    flaky_fraction: float = 0.0


@dataclass(slots=True)
class FarmProxy:
    """One running proxy: its address, behaviour, egress address and request count."""

    index: int
    address: ProxyAddress
    behaviour: Behaviour
    egress: str
    delay: float = 0.0
    drop_rate: Fraction = Fraction(0)
    requests: int = 0

    def next_request_fails(self) -> bool:
        """Request n fails when ceil((n+1)·rate) > ceil(n·rate): the first one, then evenly.

        In integers, rate = p/q: a Fraction product costs a gcd and a new object, twice a
        request."""
        n, self.requests = self.requests, self.requests + 1
        p, q = self.drop_rate.numerator, self.drop_rate.denominator
        return -(-(n + 1) * p // q) > -(-n * p // q)

    def truth(self) -> ProxyTruth:
        dead = self.behaviour is Behaviour.DEAD
        return ProxyTruth(
            behaviour=self.behaviour,
            protocol=self.address.protocol,
            alive=self.behaviour not in (Behaviour.DEAD, Behaviour.FLAKY),
            anonymity=None if dead else _ANONYMITY.get(self.behaviour, Anonymity.ELITE),
            exit_ip=None if dead else self.egress,
            min_latency_ms=self.delay * 1000,
            flaky_fraction=float(self.drop_rate),
        )


_ANONYMITY = {
    Behaviour.TRANSPARENT: Anonymity.TRANSPARENT,
    Behaviour.ANONYMOUS: Anonymity.ANONYMOUS,
}


def _address(prefix: str, index: int) -> str:
    return f"{prefix}.{index // 250}.{index % 250 + 1}"


def _credentials(protocol: ProxyProtocol, index: int) -> tuple[str | None, str | None]:
    # SOCKS4 knows a user id only; everything else logs in with user and password.
    if protocol is ProxyProtocol.SOCKS4:
        return f"user{index}", None
    return f"user{index}", f"secret-{index}"


def build_proxy(spec: FarmSpec, index: int, kind: Kind, port: int) -> FarmProxy:
    protocol, behaviour = kind
    user, password = (None, None)
    if behaviour is Behaviour.AUTH:
        user, password = _credentials(protocol, index)
    address = ProxyAddress(_address(spec.listen_prefix, index), port, protocol, user, password)
    shares_host = behaviour is Behaviour.TRANSPARENT and protocol in TUNNEL_PROTOCOLS
    egress = HOST_ADDRESS if shares_host else _address(spec.egress_prefix, index)
    return FarmProxy(
        index=index, address=address, behaviour=behaviour, egress=egress,
        delay=spec.slow_delay if behaviour is Behaviour.SLOW else 0.0,
        drop_rate=_drop_rate(spec) if behaviour is Behaviour.FLAKY else Fraction(0),
    )


def _drop_rate(spec: FarmSpec) -> Fraction:
    return Fraction(spec.flaky_fraction).limit_denominator(10_000)


def raise_fd_limit(needed: int) -> int:
    """Lift the soft file descriptor limit to the hard one; fail clearly if that is too few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        message = f"the farm needs {needed} file descriptors, the hard limit is {hard}"
        raise OSError(errno.EMFILE, message)
    return target


# --- the farm ------------------------------------------------------------------------------

class Farm:
    """The running farm. `proxies` lists every proxy with its truth, dead ones included."""

    def __init__(self, spec: FarmSpec) -> None:
        self.spec = spec
        self.members: list[FarmProxy] = []
        self._servers: list[asyncio.Server] = []
        self._server_of: dict[int, asyncio.Server] = {}
        self._deadlines: Deadlines[Connection] = Deadlines(spec.io_timeout)

    @property
    def proxies(self) -> list[tuple[ProxyAddress, ProxyTruth]]:
        return [(member.address, member.truth()) for member in self.members]

    async def __aenter__(self) -> Farm:
        # One socket per listener, plus room for the connections the checks will open.
        raise_fd_limit(self.spec.total + 256)
        try:
            for index, kind in enumerate(self.spec.kinds()):
                self.members.append(await self._start(index, kind))
        except BaseException:
            self._stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()

    async def _start(self, index: int, kind: Kind) -> FarmProxy:
        if kind[1] is Behaviour.DEAD:
            return build_proxy(self.spec, index, kind, DEAD_PORT)
        proxy = build_proxy(self.spec, index, kind, 0)
        self._server_of[index] = await self.listen(proxy)
        return proxy

    async def listen(self, proxy: FarmProxy) -> asyncio.Server:
        """Serve one proxy on its address (port 0: the kernel chooses, and `proxy.address`
        then carries the port). Closing the returned server takes the proxy offline (the
        simulated upstream does, for products it sold); the farm closes it at its end."""
        # A connection's lifetime is bounded by the farm's one sweep (io_timeout), its
        # handshake read by the first phase of its protocol.
        first = functools.partial(_FIRST_PHASES[proxy.address.protocol], proxy)
        # A partial, not a lambda: one Python frame fewer per accepted connection.
        server = await asyncio.get_running_loop().create_server(
            functools.partial(Connection, self._deadlines, first), proxy.address.host,
            proxy.address.port)
        self._servers.append(server)
        # Port 0 let the kernel choose; the listing must carry the port it chose.
        proxy.address = replace(proxy.address, port=server.sockets[0].getsockname()[1])
        return server

    def kill(self, index: int) -> None:
        """Stop member `index` listening: from now on connecting to it is refused, as to a
        proxy that went away (connections already open carry on). For tests of what
        notices a proxy dying."""
        server = self._server_of.pop(index, None)
        if server is not None:
            server.close()
        self.members[index].behaviour = Behaviour.DEAD

    def _stop(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        for client in list(self._deadlines):  # connections still open end with the farm
            client.end()
        self._deadlines.stop()


# --- what every protocol shares --------------------------------------------------------------

R = TypeVar("R")
Admitted = Callable[[FarmProxy, R, Connection], None]  # a handshake's next step, once admitted


def _admit(proxy: FarmProxy, client: Connection, then: Admitted[R], request: R) -> None:
    """The flaky and slow behaviours, applied once the client's first message is in;
    `then(proxy, request, client)` carries on with the client if it is admitted.

    `then` and `request` come apart rather than as one partial: most clients are admitted at
    once, and a partial per handshake would cost an object and a call each time."""
    client.phase = None
    if proxy.behaviour is Behaviour.FLAKY and proxy.next_request_fails():
        client.abort()
    elif proxy.delay:
        asyncio.get_running_loop().call_later(proxy.delay, _carry_on, then, proxy, request,
                                              client)
    else:
        then(proxy, request, client)


def _carry_on(then: Admitted[R], proxy: FarmProxy, request: R, client: Connection) -> None:
    if not client.ended:
        try:
            then(proxy, request, client)
        except (OSError, ValueError):
            client.end()


def _taking(size: int, client: Connection) -> bytes | None:
    """The next `size` bytes of the handshake, or None until they are in."""
    return client.take(size) if len(client.buffer) >= size else None


def _taking_until(separator: bytes, client: Connection, start: int = 0) -> int:
    """Where `separator` ends in the buffer past `start`, or -1 until it is in; a separator
    not within MAX_HEAD bytes of `start` is an error, as a stream reader's limit is."""
    found = client.buffer.find(separator, start)
    if found < 0:
        if len(client.buffer) - start > MAX_HEAD:
            raise asyncio.LimitOverrunError("separator not found within the limit", 0)
        return -1
    end = found + len(separator)
    if end - start > MAX_HEAD:
        raise asyncio.LimitOverrunError("separator found beyond the limit", found)
    return end


def _answer_then_close(client: Connection, answer: bytes) -> None:
    client.write(answer)
    client.end()


# --- HTTP, with CONNECT ----------------------------------------------------------------------

_HOP_BY_HOP = frozenset({"proxy-authorization", "proxy-connection", "connection", "keep-alive"})
_CLOSE = ("Connection", "close")


def _http_head(proxy: FarmProxy, client: Connection) -> None:
    end = _taking_until(b"\r\n\r\n", client)
    if end < 0:
        return
    request = parse_request_head(client.take(end)[:-4])
    _admit(proxy, client, _http_admitted, request)


def _http_admitted(proxy: FarmProxy, request: tuple[str, str, list[tuple[str, str]]],
                   client: Connection) -> None:
    method, target, headers = request
    if not _http_authorized(proxy, headers):
        _answer_then_close(client, _PROXY_AUTH_REQUIRED)
    elif method == "CONNECT":
        host, _, port = target.rpartition(":")
        client.dial(host.strip("[]"), int(port), proxy.egress, _tunnel_dialled)
    else:
        _http_forward(proxy, client, request)


def _http_authorized(proxy: FarmProxy, headers: list[tuple[str, str]]) -> bool:
    if proxy.address.username is None:
        return True
    expected = _basic_authorization(proxy.address.username, proxy.address.password or "")
    return any(n.lower() == "proxy-authorization" and v == expected for n, v in headers)


@functools.lru_cache(maxsize=1024)  # one login per proxy, asked for check after check
def _basic_authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _proxy_auth_required() -> bytes:
    head = response(407, "Proxy Authentication Required", b"", "text/plain")
    return head.replace(b"\r\n\r\n", b'\r\nProxy-Authenticate: Basic realm="farm"\r\n\r\n', 1)


_PROXY_AUTH_REQUIRED = _proxy_auth_required()
_BAD_GATEWAY = response(502, "Bad Gateway", b"", "text/plain")
_BAD_REQUEST = response(400, "Bad Request", b"", "text/plain")
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


def _tunnel_dialled(client: Connection, upstream: Upstream | None) -> None:
    if upstream is None:
        _answer_then_close(client, _BAD_GATEWAY)
        return
    client.write(_ESTABLISHED)
    client.relay(upstream)


def _http_forward(proxy: FarmProxy, client: Connection,
                  request: tuple[str, str, list[tuple[str, str]]]) -> None:
    method, target, headers = request
    destination = _forward_destination(target)
    if destination is None:
        _answer_then_close(client, _BAD_REQUEST)
        return
    host, port, path = destination
    # The rewritten head goes back to the front of the client's bytes: the relay sends the
    # buffer first, so the target gets it ahead of anything the client sent after its head,
    # as if written on connecting, and the dial needs no partial to carry it.
    client.buffer[:0] = _forwarded_request(proxy, method, path, tuple(headers), client)
    client.dial(host, port, proxy.egress, _forward_dialled)


@functools.lru_cache(maxsize=1024)  # the same few judge URLs, check after check
def _forward_destination(target: str) -> tuple[str, int, str] | None:
    """Host, port and origin-form path of an absolute http:// target; None for any other."""
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return url.hostname, url.port or 80, path


def _forward_dialled(client: Connection, upstream: Upstream | None) -> None:
    if upstream is None:
        _answer_then_close(client, _BAD_GATEWAY)
        return
    client.relay(upstream)


def _forwarded_request(proxy: FarmProxy, method: str, path: str, headers: Headers,
                       client: Connection) -> bytes:
    """The request as the proxy passes it on: hop-by-hop headers dropped, its style's added
    (the client's address, for one), and `Connection: close`."""
    adds = _HEADER_STYLES.get(proxy.behaviour)
    if adds is None:
        return _plain_request(method, path, headers)
    kept, host = _end_to_end(headers)
    return http_request(method, path, [*kept, *adds(proxy, client, host), _CLOSE])


# Remembered: a checker's request is the same check after check, and most proxies add
# nothing to it, so a forward is mostly a lookup rather than a rewrite.
@functools.lru_cache(maxsize=1024)
def _plain_request(method: str, path: str, headers: Headers) -> bytes:
    return http_request(method, path, [*_end_to_end(headers)[0], _CLOSE])


@functools.lru_cache(maxsize=1024)
def _end_to_end(headers: Headers) -> tuple[Headers, str]:
    """The headers a proxy passes on, and the first Host header's value (or "")."""
    kept = tuple((name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP)
    host = next((value for name, value in headers if name.lower() == "host"), "")
    return kept, host


def _transparent(proxy: FarmProxy, client: Connection, host: str) -> list[tuple[str, str]]:
    # Three common ways real proxies give the client away, taken in turn across the farm.
    # Only these styles ask the client's address: the transport's peername is a call.
    client_ip = client.peer_ip()
    via = ("Via", f"1.1 {proxy.address.host} (farm)")
    styles = [
        [("X-Forwarded-For", client_ip), via],
        [("Forwarded", f'for="{client_ip}:{40000 + proxy.index % 20000}";proto=http'), via],
        [("X-Real-IP", client_ip)],
    ]
    return styles[proxy.index % len(styles)]


def _anonymous(proxy: FarmProxy, client: Connection, host: str) -> list[tuple[str, str]]:
    # Fake client addresses chosen to trip a classifier that compares text, not addresses:
    # 127.0.0.10 contains 127.0.0.1, and X-Forwarded-Host names the judge on our own host.
    styles = [
        [("Via", "1.1 farm-proxy"), ("X-Forwarded-For", f"198.51.100.{proxy.index % 250 + 1}")],
        [("X-Forwarded-For", "127.0.0.10, 10.1.2.3"), ("X-Forwarded-Host", host)],
        [("Forwarded", 'for="[::ffff:127.0.0.11]:4711"'), ("Proxy-Connection", "keep-alive")],
    ]
    return styles[proxy.index % len(styles)]


_HEADER_STYLES = {Behaviour.TRANSPARENT: _transparent, Behaviour.ANONYMOUS: _anonymous}


# --- SOCKS4 / SOCKS4a ----------------------------------------------------------------------

def _socks4_request(proxy: FarmProxy, client: Connection) -> None:
    if len(client.buffer) < 8 or (user_end := _taking_until(b"\x00", client, 8)) < 0:
        return
    ip = bytes(client.buffer[4:8])
    host_end = user_end
    if ip[:3] == b"\x00\x00\x00" and ip[3] != 0:  # SOCKS4a: the name follows the user id
        host_end = _taking_until(b"\x00", client, user_end)
    if host_end < 0:
        return
    message = client.take(host_end)
    version, command, port = struct.unpack_from("!BBH", message)
    userid = message[8:user_end - 1].decode(errors="replace")
    if host_end > user_end:
        host = message[user_end:host_end - 1].decode("idna")
    else:
        host = socket.inet_ntoa(ip)  # dotted quad in one C call, not a str() per octet
    _admit(proxy, client, _socks4_admitted, (version, command, userid, host, port))


def _socks4_admitted(proxy: FarmProxy, request: tuple[int, int, str, str, int],
                     client: Connection) -> None:
    version, command, userid, host, port = request
    if version != SOCKS4_VERSION or command != Socks4Command.CONNECT:
        _answer_then_close(client, _socks4_reply(Socks4Reply.REJECTED))
    elif proxy.address.username is not None and userid != proxy.address.username:
        _answer_then_close(client, _socks4_reply(Socks4Reply.IDENTD_MISMATCH))
    else:
        client.dial(host, port, proxy.egress, _socks4_dialled)


def _socks4_reply(code: Socks4Reply) -> bytes:
    return bytes([0, code]) + bytes(6)


_SOCKS4_REPLIES = (_socks4_reply(Socks4Reply.GRANTED), _socks4_reply(Socks4Reply.REJECTED))


# --- SOCKS5 --------------------------------------------------------------------------------

def _socks5_greeting(proxy: FarmProxy, client: Connection) -> None:
    buffer = client.buffer
    if len(buffer) < 2 or len(buffer) < 2 + buffer[1]:
        return
    version, count = buffer[0], buffer[1]
    offered = client.take(2 + count)[2:]
    if version != SOCKS5_VERSION:
        client.end()
        return
    _admit(proxy, client, _socks5_admitted, offered)


def _socks5_admitted(proxy: FarmProxy, offered: bytes, client: Connection) -> None:
    needs_login = proxy.address.username is not None
    method = Socks5Method.USERNAME_PASSWORD if needs_login else Socks5Method.NO_AUTH
    if method not in offered:
        _answer_then_close(client, _NO_ACCEPTABLE_METHOD)
        return
    client.write(_METHOD_CHOSEN[method])
    client.phase = functools.partial(_socks5_login if needs_login else _socks5_request, proxy)
    if client.buffer:
        client.phase(client)


def _socks5_login(proxy: FarmProxy, client: Connection) -> None:
    buffer = client.buffer
    if len(buffer) < 2 or len(buffer) < 3 + buffer[1]:
        return
    user_size = buffer[1]
    password_size = buffer[2 + user_size]
    if len(buffer) < 3 + user_size + password_size:
        return
    message = client.take(3 + user_size + password_size)
    user, password = message[2:2 + user_size], message[3 + user_size:]
    accepted = (user.decode(errors="replace") == proxy.address.username
                and password.decode(errors="replace") == (proxy.address.password or ""))
    if not accepted:
        _answer_then_close(client, bytes([1, 1]))
        return
    client.write(bytes([1, 0]))
    client.phase = functools.partial(_socks5_request, proxy)
    if client.buffer:
        client.phase(client)


_ADDRESS_SIZES = {Socks5AddressType.IPV4: 4, Socks5AddressType.IPV6: 16}
# By wire value: a dict lookup, where calling the enum runs its Python __call__ and __new__.
_ADDRESS_TYPES = {kind.value: kind for kind in Socks5AddressType}


def _socks5_request(proxy: FarmProxy, client: Connection) -> None:
    buffer = client.buffer
    if len(buffer) < 4:
        return
    kind = _ADDRESS_TYPES.get(buffer[3])
    if kind is None:
        raise ValueError(f"{buffer[3]} is not a SOCKS5 address type")
    if kind is Socks5AddressType.DOMAIN:
        if len(buffer) < 5:
            return
        address_size = buffer[4] + 1
    else:
        address_size = _ADDRESS_SIZES[kind]
    if len(buffer) < 6 + address_size:
        return
    message = client.take(6 + address_size)
    raw, (port,) = message[4:-2], struct.unpack("!H", message[-2:])
    host = _socks5_host(kind, raw)
    if message[1] != Socks5Command.CONNECT:
        _answer_then_close(client, _socks5_reply(Socks5Reply.COMMAND_NOT_SUPPORTED))
        return
    client.dial(host, port, proxy.egress, _socks5_dialled)


def _socks5_host(kind: Socks5AddressType, raw: bytes) -> str:
    if kind is Socks5AddressType.DOMAIN:
        return raw[1:].decode("idna")
    if kind is Socks5AddressType.IPV4:
        return socket.inet_ntoa(raw)  # what str(ip_address(raw)) writes, in one C call
    return str(ipaddress.ip_address(raw))


def _socks5_reply(code: Socks5Reply) -> bytes:
    bound = bytes([Socks5AddressType.IPV4]) + bytes(4) + bytes(2)
    return bytes([SOCKS5_VERSION, code, 0]) + bound


_SOCKS5_REPLIES = (
    _socks5_reply(Socks5Reply.SUCCEEDED), _socks5_reply(Socks5Reply.CONNECTION_REFUSED)
)
_METHOD_CHOSEN = {method: bytes([SOCKS5_VERSION, method]) for method in Socks5Method}
_NO_ACCEPTABLE_METHOD = _METHOD_CHOSEN[Socks5Method.NO_ACCEPTABLE]


def _socks_dialled(replies: tuple[bytes, bytes], client: Connection,
                   upstream: Upstream | None) -> None:
    """Answer with `replies` (granted, refused); relay when granted."""
    granted, refused = replies
    if upstream is None:
        _answer_then_close(client, refused)
        return
    client.write(granted)
    client.relay(upstream)


# Made once: a partial per dial would be an object per SOCKS check.
_socks4_dialled = functools.partial(_socks_dialled, _SOCKS4_REPLIES)
_socks5_dialled = functools.partial(_socks_dialled, _SOCKS5_REPLIES)


_FIRST_PHASES = {
    ProxyProtocol.HTTP: _http_head,
    ProxyProtocol.HTTPS: _http_head,
    ProxyProtocol.SOCKS4: _socks4_request,
    ProxyProtocol.SOCKS5: _socks5_greeting,
}
