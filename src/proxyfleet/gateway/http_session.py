"""An HTTP/1 proxy session on a listener: CONNECT tunnels, and absolute-URI forwarding with
keep-alive on both sides.

The session reads the first request, checks credentials, and dials; `http_forward` then runs
the exchanges in callbacks and hands back whatever needs the session again: a request for
another target or with other credentials, a CONNECT, or a protocol switch, which becomes a
tunnel. Keep-alive: a request body is framed by Content-Length or chunked encoding, a
response body by those or by the connection closing. The client connection stays open after
every response whose end is known; a response that ends at close is passed on with
`Connection: close`. The upstream connection is reused for the next request to the same
target when the origin allows it.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

from proxyfleet.gateway.counters import RequestOutcome, WayIn
from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.engine import Engine
from proxyfleet.gateway.http_forward import forward
from proxyfleet.gateway.leg import Leg, relay
from proxyfleet.gateway.route import Route
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_proxy import (
    HttpProxyServer,
    ProxyRequest,
    RequestKind,
    bad_gateway,
    connection_established,
    gateway_timeout,
    proxy_auth_required,
)
from proxyfleet.wire.target import Target


def dial_answer(failure: DialFailure) -> bytes:
    if failure is DialFailure.NO_IPV6:  # seed 004's words for an IPv6-only egress
        return bad_gateway("Bad Gateway - IPv6 Only")
    return gateway_timeout() if failure is DialFailure.TIMED_OUT else bad_gateway()


def _way(request: ProxyRequest) -> WayIn:
    return WayIn.CONNECT if request.kind is RequestKind.TUNNEL else WayIn.HTTP


async def serve_http(client: Leg, engine: Engine, deadline: float) -> None:
    """Serve requests until the client leaves; the first head must be in by `deadline`
    (loop time), each later one within the handshake time of its first byte."""
    session = _HttpSession(client, engine)
    try:
        await session.run(deadline)
    except WireError as exc:
        engine.counters.handshake_failures += 1
        client.write(exc.answer)
    finally:
        session.drop_upstream()
        session.leave()


class _HttpSession:
    def __init__(self, client: Leg, engine: Engine) -> None:
        self._client = client
        self._engine = engine
        self._idle = engine.config.idle_timeout
        self._parser = HttpProxyServer()
        self._upstream: Leg | None = None
        self._upstream_target: Target | None = None
        self._trusted: Credentials | None = None
        self._checked = False
        self._route: Route | None = None
        self._rotates = False

    async def run(self, deadline: float) -> None:
        request = await self._next_request(deadline)
        while request is not None:
            if not await self._authorized(request):
                self._engine.counters.handshake_failures += 1
                self._client.write(proxy_auth_required(self._engine.config.realm))
                return
            if request.kind is RequestKind.TUNNEL:
                await self._tunnel(request)
                return
            upstream = await self._upstream_for(request.target)
            if upstream is None:
                return
            handback = await forward(self._client, upstream, self._parser, request,
                                     continues=self._continues, idle_timeout=self._idle,
                                     head_timeout=self._engine.config.handshake_timeout,
                                     counters=self._engine.counters)
            if handback.upgrade:
                self._upstream = self._upstream_target = None
                self._client.unread(self._parser.take_rest())
                await relay(self._client, upstream, self._idle)
                return
            if not handback.upstream_reusable:
                self.drop_upstream()
            request = handback.request

    def _continues(self, request: ProxyRequest) -> bool:
        """Whether the forwarder may serve `request` on as it is: same target, same login."""
        # The parser hands back the very same target while a client keeps to one origin.
        target = request.target
        return (request.kind is RequestKind.FORWARD and not self._rotates
                and (target is self._upstream_target or target == self._upstream_target)
                and self._login_checked(request))

    def _login_checked(self, request: ProxyRequest) -> bool:
        """The request carries the login already let in on this connection."""
        return self._checked and request.credentials == self._trusted

    async def _next_request(self, deadline: float) -> ProxyRequest | None:
        """The next request head, or None when the client leaves or is not done by `deadline`
        (loop time)."""
        try:
            while (event := self._parser.next_event()) is NEED_DATA:
                data = await self._client.read(deadline)
                if not data:
                    return None
                self._parser.receive_data(data)
        except TimeoutError:
            return None
        return event

    async def _authorized(self, request: ProxyRequest) -> bool:
        if self._login_checked(request):
            return True
        route = await self._engine.enter(request.credentials, self._client, _way(request))
        if route is None:
            return False
        self.leave()
        self._route, self._rotates = route, route.rotates
        self._trusted, self._checked = request.credentials, True
        return True

    def leave(self) -> None:
        """Let go of the route the last login opened."""
        if self._route is not None:
            self._route.close()
            self._route = None

    async def _tunnel(self, request: ProxyRequest) -> None:
        upstream = await self._dial(request.target, WayIn.CONNECT)
        if upstream is None:
            return
        self._client.write(connection_established())
        self._client.unread(self._parser.take_rest())
        await relay(self._client, upstream, self._idle)

    async def _dial(self, target: Target, way: WayIn) -> Leg | None:
        try:
            return await self._engine.dial(target, self._route, way=way)
        except DialError as exc:
            self._client.write(exc.answer or dial_answer(exc.failure))
            return None

    async def _upstream_for(self, target: Target) -> Leg | None:
        upstream = self._upstream
        if (upstream is not None and self._upstream_target == target and upstream.reusable
                and not self._rotates):
            self._engine.counters.count_request(WayIn.HTTP, RequestOutcome.OK)
            return upstream
        self.drop_upstream()
        upstream = await self._dial(target, WayIn.HTTP)
        self._upstream, self._upstream_target = upstream, target
        return upstream

    def drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        self._upstream = self._upstream_target = None
