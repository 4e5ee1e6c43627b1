"""`GatewayRouter`, the engine's `Router` for the rotating gateway: it lets a client in on its
API key (the password) and its username's options, and gives it a `ClientRoute`, which dials
each connection (each plain HTTP request, without a session) through a pool proxy the rotation
service picks, failing over to another on a connect or handshake failure while nothing has
reached the client, and feeding every outcome (with its time to first byte) back at once.
Usage and bans are kept in memory, the per-user caps by a `core.limits.Limiter` (in Redis,
one script run per admission, when it is configured); nothing here waits on the database, but
for a connection that names a shop order (`-order-`, the caller's own bought proxy:
`owned.py`), which asks the shop once.

Imports `core`, `wire`, the engine, `accounts` and the pool's rotation service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from proxyfleet.accounts.service import AccountsService
from proxyfleet.core.accounts import Principal
from proxyfleet.core.errors import DomainError, Unauthenticated
from proxyfleet.core.limits import Admission, Limiter, Refusal
from proxyfleet.core.proxies import ProxyFilter
from proxyfleet.core.rotation import Pick, Want
from proxyfleet.gateway.chain import ChainDialer, UpstreamError
from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.egress import Egress as EgressPolicy
from proxyfleet.gateway.egress import Ipv6Dialer, Resolver, random_address
from proxyfleet.gateway.leg import Leg
from proxyfleet.rotating.answers import cannot_reach, over_limit
from proxyfleet.rotating.bans import BanList
from proxyfleet.rotating.exits import ClientWatch, ExitWatch, upstream_of
from proxyfleet.rotating.limits import UsageTally
from proxyfleet.rotating.options import BadOptions, Egress, ExitOptions, parse_username
from proxyfleet.rotating.owned import OwnedExits, owned_exit
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.target import Target

log = structlog.get_logger(__name__)

ANONYMOUS = ExitOptions("anonymous")
# Hard sessions remembered at most; the oldest are forgotten first.
HARD_SESSIONS = 100_000


class Rotation(Protocol):
    """What the gateway uses of the rotation service (`pool/rotation.py`)."""

    async def pick(self, want: Want) -> Pick | None: ...

    def record(self, proxy_id: uuid.UUID, ok: bool,
               latency_ms: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class GatewayPolicy:
    require_credentials: bool = True
    failover_attempts: int = 3
    upstream_timeout: float = 5.0
    exit_header: bool = False
    ipv6_prefix: ipaddress.IPv6Network | None = None
    """Where `-exit-ipv6` takes fresh addresses (routed locally: bound with IPV6_FREEBIND)."""
    ipv6_interface: str | None = None


def _retrieved(future: asyncio.Future[Principal]) -> None:
    """Mark a look-up's failure as seen: nobody may be waiting for it."""
    if not future.cancelled():
        future.exception()


class GatewayRouter:
    def __init__(self, accounts: AccountsService, rotation: Rotation, policy: GatewayPolicy,
                 limits: Limiter, tally: UsageTally, bans: BanList, *,
                 resolver: Resolver | None = None, egress: EgressPolicy | None = None,
                 rng: random.Random | None = None,
                 monotonic: Callable[[], float] | None = None,
                 owned: OwnedExits | None = None) -> None:
        self.accounts = accounts
        self.owned = owned
        self.rotation = rotation
        self.policy = policy
        self.limits = limits
        self.tally = tally
        self.bans = bans
        self.failing: set[uuid.UUID] = set()
        """Proxies that failed in real traffic since the last flush: to be re-checked soon."""
        self._resolver = resolver
        self._egress = egress
        self._rng = rng or random.Random()
        self._monotonic = monotonic or time.monotonic
        self._hard: dict[str, tuple[uuid.UUID, float]] = {}
        self._logins: dict[str, asyncio.Future[Principal]] = {}

    @property
    def requires_login(self) -> bool:
        return self.policy.require_credentials

    async def enter(self, credentials: Credentials | None, client: Leg) -> ClientRoute | None:
        if credentials is None:
            if self.policy.require_credentials:
                return None
            return self._route(None, ANONYMOUS, client)
        try:
            options = parse_username(credentials.username)
            principal = await self._principal(credentials.password)
        except (BadOptions, Unauthenticated):
            return None
        return self._route(principal.user.id, options, client)

    async def _principal(self, key: str) -> Principal:
        """`accounts.authenticate(key)`, one look-up at a time per key: when the principal
        cache's entry for a busy key expires, every client of that key arriving meanwhile
        waits for the one look-up instead of each asking the database (bench/gateway_bench:
        half the logins went to the database without this)."""
        pending = self._logins.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this client was cancelled, not the look-up
        future = self._logins[key] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        try:
            principal = await self.accounts.authenticate(key)
        except Exception as error:
            future.set_exception(error)
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            if self._logins.get(key) is future:
                del self._logins[key]
        future.set_result(principal)
        return principal

    def _route(self, user: uuid.UUID | None, options: ExitOptions, client: Leg) -> ClientRoute:
        watcher = client.watcher
        if isinstance(watcher, ClientWatch):
            watcher.user = user  # a client that logs in anew counts for its new user
        else:
            client.watch(ClientWatch(self.tally, user))
        return ClientRoute(self, user, options)

    def record(self, proxy_id: uuid.UUID, ok: bool, latency_ms: float | None = None) -> None:
        self.rotation.record(proxy_id, ok, latency_ms)
        if not ok:
            self.failing.add(proxy_id)

    # Hard sessions: the exit a session started on, while it lasts.

    def hard_exit(self, key: str) -> uuid.UUID | None:
        found = self._hard.get(key)
        if found is None or found[1] <= self._monotonic():
            self._hard.pop(key, None)
            return None
        return found[0]

    def keep_hard_exit(self, key: str, proxy_id: uuid.UUID, seconds: float) -> None:
        if len(self._hard) >= HARD_SESSIONS:
            self._hard.pop(next(iter(self._hard)))
        self._hard[key] = (proxy_id, self._monotonic() + seconds)

    async def prepare(self) -> None:
        """Make the IPv6 prefix bindable (routed to `lo` once), when one is configured."""
        policy = self.policy
        if self._egress is not None and policy.ipv6_prefix is not None \
                and policy.ipv6_interface is not None:
            try:
                await self._egress.prepare(policy.ipv6_interface, policy.ipv6_prefix)
            except DomainError as error:
                # The pool exits work without it; `-exit-ipv6` answers 502 until it does.
                log.warning("gateway: IPv6 prefix not routable", error=error.message)

    def ipv6_dialer(self) -> Ipv6Dialer | None:
        prefix = self.policy.ipv6_prefix
        if prefix is None or self._resolver is None:
            return None
        return Ipv6Dialer(random_address(prefix, self._rng), self._resolver, freebind=True)


class ClientRoute:
    """One client connection's way out, with the options its username carries."""

    def __init__(self, router: GatewayRouter, user: uuid.UUID | None,
                 options: ExitOptions) -> None:
        self._router = router
        self._user = user
        self._options = options
        self._held: Admission | None = None
        """The place under the user's connection cap, taken with the first dial."""
        self._closed = False
        self._filter = ProxyFilter(protocol=options.protocol, anonymity=options.anonymity,
                                   country=options.country, min_score=options.min_score)
        self._key = None if options.session is None else f"{user}:{options.session}"
        self._own: uuid.UUID | None = None  # the bought proxy `-order-` names, once known

    @property
    def rotates(self) -> bool:
        """Without a session, every plain HTTP request gets an exit of its own."""
        return self._key is None

    def close(self) -> None:
        self._closed = True
        if self._held is not None:
            self._router.limits.release(self._held)
            self._held = None

    async def dial(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        await self._admit(target)
        if self._user is not None:
            self._router.tally.counts(self._user)[0] += 1
        if self._options.order is not None and self._own is None:
            self._own = await owned_exit(self._router.owned, self._user, self._options.order,
                                         target)
        if self._options.egress is Egress.IPV6:
            return await self._dial_ipv6(target, make_leg)
        return await self._dial_pool(target, make_leg)

    async def _admit(self, target: Target) -> None:
        """Count the request against the user's rate (anonymous clients have none) and, at
        the first, take a place under the user's connection cap; or raise a 429 answer."""
        hold = self._held is None
        admission = await self._router.limits.admit(
            self._user or uuid.UUID(int=0), 0 if self._user is None else 1, hold=hold)
        if admission.refused is Refusal.AT_ONCE:
            raise over_limit(target, "too many connections open for this user")
        if admission.refused is Refusal.RATE:
            raise over_limit(target, "too many requests this minute for this user")
        if hold and admission.lease is not None:
            self._held = admission
            if self._closed:  # the client left while its place was being taken
                self.close()

    async def _dial_pool(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        router, policy = self._router, self._router.policy
        tried: set[uuid.UUID] = set()
        failures: list[str] = []
        last = DialFailure.FAILED
        kept = self._kept_exit()
        for _ in range(1 if kept is not None else policy.failover_attempts):
            pick = await self._pick(target, frozenset(tried), kept)
            if pick is None:
                break
            tried.add(pick.proxy_id)
            dialer = ChainDialer(upstream_of(pick.address),
                                 connect_timeout=policy.upstream_timeout)
            dialed = time.monotonic()
            try:
                leg = await dialer.dial(target, make_leg)
            except UpstreamError as exc:
                if not (exc.proxy_at_fault or exc.failure is DialFailure.TIMED_OUT):
                    # The exit works; the target said no: that is the answer.
                    router.record(pick.proxy_id, True)
                    raise cannot_reach(exc.failure, target, exc.reason) from exc
                router.record(pick.proxy_id, False)
                failures.append(f"{pick.proxy_id}: {exc.reason}")
                last = exc.failure
                continue
            if self._options.hard and kept is None:
                # A hard session holds to the first exit that worked for it.
                router.keep_hard_exit(self._hard_key(), pick.proxy_id,
                                      self._options.sticky_seconds)
            leg.watch(ExitWatch(pick.proxy_id, target.host, self._user, tally=router.tally,
                                bans=router.bans, exit_header=policy.exit_header,
                                record=router.record, dialed=dialed))
            return leg
        raise cannot_reach(last, target, self._no_exit(tried, failures))

    def _no_exit(self, tried: set[uuid.UUID], failures: list[str]) -> str:
        if failures:
            return f"{len(failures)} exit(s) failed: " + "; ".join(failures)
        if self._kept_exit() is not None:
            return "the session's exit is gone (hard session)"
        if self._own is not None:
            return "the order's proxy is not usable now (not checked alive yet, or offline)"
        return "no pool proxy matches the options"

    def _hard_key(self) -> str:
        assert self._key is not None
        return self._key

    def _kept_exit(self) -> uuid.UUID | None:
        """The exit a hard session holds to, once it has one."""
        if not self._options.hard or self._key is None:
            return None
        return self._router.hard_exit(self._key)

    async def _pick(self, target: Target, tried: frozenset[uuid.UUID],
                    kept: uuid.UUID | None) -> Pick | None:
        router = self._router
        exclude = tried | router.bans.excluded(target.host)
        if self._own is not None:  # the caller's own proxy, which goes to nobody else
            return await router.rotation.pick(Want(among=frozenset({self._own}),
                                                   owner=self._user, exclude=exclude))
        if kept is not None:
            return await router.rotation.pick(Want(filter=self._filter, among=frozenset({kept}),
                                                   exclude=exclude))
        key = None if self._options.hard else self._key
        return await router.rotation.pick(Want(
            filter=self._filter, key=key, exclude=exclude,
            sticky_seconds=None if key is None else self._options.sticky_seconds))

    async def _dial_ipv6(self, target: Target, make_leg: Callable[[], Leg]) -> Leg:
        dialer = self._router.ipv6_dialer()
        if dialer is None:
            raise cannot_reach(DialFailure.FAILED, target, "no IPv6 prefix is configured")
        try:
            return await dialer.dial(target, make_leg)
        except DialError as exc:
            raise cannot_reach(exc.failure, target, f"IPv6 exit: {exc}") from exc
        except OSError as exc:
            raise cannot_reach(DialFailure.FAILED, target, f"IPv6 exit: {exc}") from exc
