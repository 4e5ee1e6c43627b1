"""Local IPv6 egress instances (seed 004), the use cases: create (permanent or temp), list,
get, delete, bulk delete, expire (the TTL sweep and `/api/cleanup`), stats, and bringing every
stored instance back on start. An instance is one or two `ProxyServer` listeners on
127.0.0.1 whose outgoing connections leave from the instance's own IPv6 address.

The only place instances are committed. May import `proxyfleet.storage`, `proxyfleet.core`,
the gateway engine and the standard library.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import ipaddress
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from proxyfleet.core.clock import isoformat_z, utcnow
from proxyfleet.core.errors import InvalidInput, NotFound, Unavailable
from proxyfleet.core.events import Event, EventName
from proxyfleet.gateway.egress import (
    Egress,
    Ipv6Dialer,
    PrefixExhausted,
    Resolver,
    UnknownInterface,
    candidates,
    interface_exists,
    parse_prefix,
)
from proxyfleet.gateway.engine import ListenerConfig, ListenerProtocol
from proxyfleet.gateway.server import ProxyServer
from proxyfleet.storage.instances import AddressTaken, InstanceRecord, InstanceType
from proxyfleet.storage.uow import Database

log = logging.getLogger(__name__)

LISTEN_HOST = "127.0.0.1"
PORT_ATTEMPTS = 64
ALLOCATE_ATTEMPTS = 4
MAX_TTL_SECONDS = 30 * 24 * 3600

PROTOCOLS_BY_TYPE: Mapping[InstanceType, tuple[ListenerProtocol, ...]] = {
    InstanceType.HTTP: (ListenerProtocol.HTTP,),
    InstanceType.SOCKS5: (ListenerProtocol.SOCKS5,),
    InstanceType.BOTH: (ListenerProtocol.HTTP, ListenerProtocol.SOCKS5),
}


class InstanceNotFound(NotFound):
    code = "INSTANCE_NOT_FOUND"


class NoFreePort(Unavailable):
    code = "NO_FREE_PORT"


@dataclass(frozen=True, slots=True)
class InstanceStats:
    connections: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    last_activity_ts: float | None = None
    uptime: float = 0.0


@dataclass(frozen=True, slots=True)
class InstanceView:
    """An instance as the API shows it: what is stored, where it listens, what it carried."""

    record: InstanceRecord
    endpoints: Mapping[ListenerProtocol, str]
    stats: InstanceStats
    running: bool


@dataclass(frozen=True, slots=True)
class EgressTotals:
    total_proxies: int
    running_proxies: int
    connections: int
    bytes_sent: int
    bytes_received: int
    instances_by_interface: Mapping[str, int]
    prefixes: Mapping[str, str]


@dataclass
class _Running:
    servers: dict[ListenerProtocol, ProxyServer]
    started: float = field(default_factory=time.monotonic)

    def endpoints(self) -> dict[ListenerProtocol, str]:
        return {protocol: f"{server.address[0]}:{server.address[1]}"
                for protocol, server in self.servers.items()}

    def stats(self) -> InstanceStats:
        counters = [server.counters.snapshot() for server in self.servers.values()]
        return InstanceStats(
            connections=sum(c.connections_total for c in counters),
            bytes_sent=sum(c.bytes_sent for c in counters),
            bytes_received=sum(c.bytes_received for c in counters),
            last_activity_ts=_latest(c.last_activity for c in counters),
            uptime=round(time.monotonic() - self.started, 3))

    async def close(self) -> None:
        for server in self.servers.values():
            await server.close()


def _latest(moments: Iterable[float | None]) -> float | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _ports_of(record: InstanceRecord) -> dict[ListenerProtocol, int | None]:
    return {ListenerProtocol.HTTP: record.http_port, ListenerProtocol.SOCKS5: record.socks5_port}


@dataclass(frozen=True, slots=True)
class InstancePolicy:
    prefixes: Mapping[str, str]
    """Interface name → the IPv6 prefix its instances take addresses from."""
    ports: range
    """Ports instances listen on; keep it outside the kernel's ephemeral range."""
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    """Timeouts and limits of every instance listener (host and port are set per instance)."""


class InstancesService:
    def __init__(self, database: Database, egress: Egress, resolver: Resolver,
                 policy: InstancePolicy, *, rng: random.Random | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._database = database
        self._egress = egress
        self._resolver = resolver
        self._policy = policy
        self._rng = rng or random.SystemRandom()
        self._clock = clock
        self._running: dict[uuid.UUID, _Running] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ use cases

    async def create(self, kind: InstanceType, interface: str | None,
                     ttl_seconds: int | None = None) -> InstanceView:
        name = self._interface(interface)
        prefix = self._prefix(name)
        lifetime = self._lifetime(ttl_seconds)
        await self._egress.prepare(name, prefix)
        address = await self._allocate(name, prefix)
        await self._egress.claim(name, address)
        try:
            return await self._open(kind, name, address, lifetime)
        except BaseException:
            await self._egress.release(name, address)
            raise

    async def list_instances(self) -> list[InstanceView]:
        async with self._database.reading() as uow:
            records = await uow.instances.live()
        return [self._view(record) for record in records]

    async def get(self, instance_id: uuid.UUID) -> InstanceView:
        async with self._database.reading() as uow:
            record = await uow.instances.get(instance_id)
        if record is None:
            raise InstanceNotFound("Proxy not found", {"instance_id": str(instance_id)})
        return self._view(record)

    async def delete(self, instance_id: uuid.UUID) -> None:
        if not await self.delete_many([instance_id]):
            raise InstanceNotFound("Proxy not found", {"instance_id": str(instance_id)})

    async def delete_all(self) -> list[uuid.UUID]:
        async with self._database.reading() as uow:
            records = await uow.instances.live()
        return await self.delete_many(record.id for record in records)

    async def delete_many(self, ids: Iterable[uuid.UUID], *,
                          expired: bool = False) -> list[uuid.UUID]:
        """Delete the live ones among `ids`: close their listeners, release their
        addresses (never to be handed out again). Returns the ids deleted. `expired`: they
        are ending by TTL, and each gets its `instance.expired` event."""
        wanted = list(ids)
        now = self._clock()
        async with self._database.writing() as uow:
            records = [found for i in wanted if (found := await uow.instances.get(i))]
            ended = set(await uow.instances.mark_deleted(wanted, now))
            if expired:
                for record in records:
                    if record.id in ended:
                        uow.events.add(_expired_event(record, now))
            await uow.commit()
        for record in records:
            if record.id in ended:
                await self._stop(record)
        return [record.id for record in records if record.id in ended]

    async def expire_due(self) -> list[uuid.UUID]:
        """End every temp instance whose TTL has passed (the sweep, and `/api/cleanup`)."""
        async with self._database.reading() as uow:
            due = await uow.instances.expired(self._clock())
        return await self.delete_many(due, expired=True)

    async def totals(self) -> EgressTotals:
        views = await self.list_instances()
        by_interface = dict.fromkeys(self._policy.prefixes, 0)
        for view in views:
            by_interface[view.record.interface] = by_interface.get(view.record.interface, 0) + 1
        return EgressTotals(
            total_proxies=len(views), running_proxies=sum(view.running for view in views),
            connections=sum(view.stats.connections for view in views),
            bytes_sent=sum(view.stats.bytes_sent for view in views),
            bytes_received=sum(view.stats.bytes_received for view in views),
            instances_by_interface=by_interface, prefixes=dict(self._policy.prefixes))

    async def restore(self) -> int:
        """Bring back every stored, unexpired instance with its address and, when still free,
        its ports. Returns how many run."""
        await self.expire_due()
        async with self._database.reading() as uow:
            records = await uow.instances.live()
        for record in records:
            if record.id not in self._running:
                await self._restore_one(record)
        return len(self._running)

    async def close(self) -> None:
        """Stop every listener; the instances stay stored and come back on the next start."""
        running, self._running = self._running, {}
        for instance in running.values():
            await instance.close()

    # ------------------------------------------------------------ interfaces and addresses

    def _interface(self, interface: str | None) -> str:
        if interface is None or not interface.strip():
            only = list(self._policy.prefixes)
            if len(only) == 1:
                return only[0]
            raise InvalidInput("Interface name is required (one of: "
                               f"{', '.join(sorted(only)) or 'none configured'})")
        return interface.strip()

    def _prefix(self, interface: str) -> ipaddress.IPv6Network:
        text = self._policy.prefixes.get(interface)
        if text is None:
            raise UnknownInterface(
                f"Interface {interface!r} has no IPv6 prefix configured",
                {"interface": interface, "configured": sorted(self._policy.prefixes)})
        if not interface_exists(interface):
            raise UnknownInterface(f"Interface {interface!r} does not exist on this host",
                                   {"interface": interface})
        return parse_prefix(text)

    def _lifetime(self, ttl_seconds: int | None) -> timedelta | None:
        if ttl_seconds is None:
            return None
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidInput(f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds")
        return timedelta(seconds=ttl_seconds)

    async def _allocate(self, interface: str, prefix: ipaddress.IPv6Network) -> str:
        """A random address of `prefix` never handed out before, now remembered as taken."""
        for _ in range(ALLOCATE_ATTEMPTS):
            async with self._database.reading() as uow:
                used = await uow.instances.addresses_in(str(prefix))
            for address in candidates(prefix, used, self._rng):
                if await self._remember(address, prefix, interface):
                    return address
            if not candidates(prefix, used, self._rng):
                break
        raise PrefixExhausted(f"IPv6 prefix {prefix} has no unused address left",
                              {"interface": interface, "prefix": str(prefix)})

    async def _remember(self, address: str, prefix: ipaddress.IPv6Network,
                        interface: str) -> bool:
        try:
            async with self._database.writing() as uow:
                await uow.instances.remember_address(address, str(prefix), interface,
                                                     self._clock())
                await uow.commit()
        except AddressTaken:
            return False
        return True

    # ------------------------------------------------------------ listeners

    async def _open(self, kind: InstanceType, interface: str, address: str,
                    lifetime: timedelta | None) -> InstanceView:
        wanted = dict.fromkeys(PROTOCOLS_BY_TYPE[kind])
        running = await self._listen(address, wanted)
        ports = {protocol: server.address[1] for protocol, server in running.servers.items()}
        now = self._clock()
        record = InstanceRecord(uuid.uuid4(), kind, interface, address,
                                ports.get(ListenerProtocol.HTTP),
                                ports.get(ListenerProtocol.SOCKS5), now,
                                None if lifetime is None else now + lifetime)
        try:
            async with self._database.writing() as uow:
                await uow.instances.add(record)
                await uow.commit()
        except BaseException:
            await running.close()
            raise
        self._running[record.id] = running
        return self._view(record)

    async def _listen(self, address: str,
                      wanted: Mapping[ListenerProtocol, int | None]) -> _Running:
        """One listener per protocol, on the wanted port when free, else on one picked from
        the configured range."""
        servers: dict[ListenerProtocol, ProxyServer] = {}
        dialer = Ipv6Dialer(address, self._resolver, freebind=self._egress.freebind)
        try:
            async with self._lock:  # one picker at a time, so two never race for a port
                for protocol, port in wanted.items():
                    servers[protocol] = await self._serve(protocol, dialer, port)
        except BaseException:
            await _Running(servers).close()
            raise
        return _Running(servers)

    async def _serve(self, protocol: ListenerProtocol, dialer: Ipv6Dialer,
                     preferred: int | None) -> ProxyServer:
        for port in self._ports_to_try(preferred):
            config = _listener_config(self._policy.listener, port, protocol)
            server = ProxyServer(config, dialer=dialer)
            try:
                await server.start()
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return server
        raise NoFreePort("No free port left in the instance port range",
                         {"range": f"{self._policy.ports.start}-{self._policy.ports.stop - 1}"})

    def _ports_to_try(self, preferred: int | None) -> list[int]:
        taken = {port for running in self._running.values()
                 for port in (server.address[1] for server in running.servers.values())}
        free = [port for port in self._policy.ports if port not in taken]
        picks = self._rng.sample(free, min(PORT_ATTEMPTS, len(free)))
        return ([preferred] if preferred in free else []) + picks

    async def _restore_one(self, record: InstanceRecord) -> None:
        try:
            await self._egress.prepare(record.interface, self._prefix(record.interface))
            await self._egress.claim(record.interface, record.ipv6_address, restoring=True)
            wanted = {protocol: _ports_of(record)[protocol]
                      for protocol in PROTOCOLS_BY_TYPE[record.type]}
            running = await self._listen(record.ipv6_address, wanted)
        except Exception as exc:  # one instance that cannot come back must not stop the rest
            log.warning("instance %s not restored: %s", record.id, exc)
            return
        self._running[record.id] = running
        await self._keep_ports(record, running)

    async def _keep_ports(self, record: InstanceRecord, running: _Running) -> None:
        ports = {protocol: server.address[1] for protocol, server in running.servers.items()}
        if ports == {p: port for p, port in _ports_of(record).items() if port is not None}:
            return
        async with self._database.writing() as uow:
            await uow.instances.set_ports(record.id, ports.get(ListenerProtocol.HTTP),
                                          ports.get(ListenerProtocol.SOCKS5))
            await uow.commit()

    async def _stop(self, record: InstanceRecord) -> None:
        running = self._running.pop(record.id, None)
        if running is not None:
            await running.close()
        await self._egress.release(record.interface, record.ipv6_address)

    def _view(self, record: InstanceRecord) -> InstanceView:
        running = self._running.get(record.id)
        if running is None:
            return InstanceView(record, {}, InstanceStats(), running=False)
        return InstanceView(record, running.endpoints(), running.stats(), running=True)


def _listener_config(base: ListenerConfig, port: int,
                     protocol: ListenerProtocol) -> ListenerConfig:
    return dataclasses.replace(base, host=LISTEN_HOST, port=port,
                               protocols=frozenset({protocol}))


def _expired_event(record: InstanceRecord, at: datetime) -> Event:
    return Event(EventName.INSTANCE_EXPIRED, {
        "instance_id": str(record.id), "ipv6_address": record.ipv6_address,
        "expired_at": isoformat_z(record.expires_at or at)}, occurred_at=at)
