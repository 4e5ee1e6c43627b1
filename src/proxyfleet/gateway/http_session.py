"""An HTTP/1 proxy session on a listener: CONNECT tunnels, and absolute-URI forwarding with
keep-alive on both sides.

Keep-alive: a request body is framed by Content-Length or chunked encoding, a response body
by those or by the connection closing. The client connection stays open after every response
whose end is known; a response that ends at close is passed on with `Connection: close`. The
upstream connection is reused for the next request to the same target when the origin allows
it. A `101 Switching Protocols` answer to a request that asked to upgrade becomes a tunnel.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.engine import Engine
from proxyfleet.gateway.leg import Leg, relay
from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_body import BodyLength, BodyScanner, Framing, request_body, response_body
from proxyfleet.wire.http_head import HeadReader, HttpError, ResponseHead, parse_response_head
from proxyfleet.wire.http_proxy import (
    HttpProxyServer,
    ProxyRequest,
    RequestKind,
    bad_gateway,
    client_response_head,
    connection_established,
    forward_head,
    gateway_timeout,
    proxy_auth_required,
    wants_keep_alive,
)
from proxyfleet.wire.target import Target


def dial_answer(failure: DialFailure) -> bytes:
    return gateway_timeout() if failure is DialFailure.TIMED_OUT else bad_gateway()


async def serve_http(client: Leg, engine: Engine) -> None:
    session = _HttpSession(client, engine)
    try:
        await session.run()
    except WireError as exc:
        engine.counters.handshake_failures += 1
        client.write(exc.answer)
    finally:
        session.drop_upstream()


class _UpstreamClosed(Exception):
    """The origin went away before its response head was complete."""


class _HttpSession:
    def __init__(self, client: Leg, engine: Engine) -> None:
        self._client = client
        self._engine = engine
        self._idle = engine.config.idle_timeout
        self._parser = HttpProxyServer()
        self._upstream: Leg | None = None
        self._upstream_target: Target | None = None
        self._trusted: Credentials | None = None

    async def run(self) -> None:
        timeout = self._engine.config.handshake_timeout
        while (request := await self._next_request(timeout)) is not None:
            if not await self._authorized(request):
                self._engine.counters.handshake_failures += 1
                self._client.write(proxy_auth_required(self._engine.config.realm))
                return
            if request.kind is RequestKind.TUNNEL:
                await self._tunnel(request)
                return
            if not await self._forward(request):
                return
            # Between kept-alive requests the client may think as long as a tunnel may idle.
            timeout = self._idle

    async def _next_request(self, wait: float) -> ProxyRequest | None:
        """The next request head, or None when the client leaves or dawdles between them."""
        try:
            async with asyncio.timeout(wait):
                while (event := self._parser.next_event()) is NEED_DATA:
                    data = await self._client.read()
                    if not data:
                        return None
                    self._parser.receive_data(data)
        except TimeoutError:
            return None
        return event

    async def _authorized(self, request: ProxyRequest) -> bool:
        if request.credentials is not None and request.credentials == self._trusted:
            return True
        if not await self._engine.check(request.credentials):
            return False
        self._trusted = request.credentials
        return True

    async def _tunnel(self, request: ProxyRequest) -> None:
        upstream = await self._dial(request.target)
        if upstream is None:
            return
        self._client.write(connection_established())
        self._client.unread(self._parser.take_rest())
        await relay(self._client, upstream, self._idle)

    async def _dial(self, target: Target) -> Leg | None:
        try:
            return await self._engine.dial(target)
        except DialError as exc:
            self._client.write(dial_answer(exc.failure))
            return None

    async def _forward(self, request: ProxyRequest) -> bool:
        """One request and its response; True when the client connection may carry more."""
        body = request_body(request.head)
        upstream = await self._upstream_for(request.target)
        if upstream is None:
            return False
        self._client.unread(self._parser.take_rest())
        upstream.write(forward_head(request, keep_alive=request.keep_alive))
        if body.framing is Framing.EMPTY:
            return await self._respond(request, upstream)
        async with asyncio.TaskGroup() as group:
            # The body goes up while the response comes down: an origin may answer
            # `100 Continue` first, or answer early without reading the body at all.
            sending = group.create_task(self._send_body(upstream, body), name="request body")
            keep = await self._respond(request, upstream)
            if not sending.done():
                sending.cancel()
                keep = False
        return not sending.cancelled() and sending.result() and keep

    async def _upstream_for(self, target: Target) -> Leg | None:
        upstream = self._upstream
        if upstream is not None and self._upstream_target == target and upstream.reusable:
            return upstream
        self.drop_upstream()
        upstream = await self._dial(target)
        self._upstream, self._upstream_target = upstream, target
        return upstream

    def drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        self._upstream = self._upstream_target = None

    async def _send_body(self, upstream: Leg, body: BodyLength) -> bool:
        try:
            done = await _pump(self._client, upstream, BodyScanner(body, HTTPStatus.BAD_REQUEST),
                               self._idle)
        except (WireError, OSError):  # TimeoutError is an OSError
            done = False
        if not done:
            # The origin cannot tell the body ended early; cutting it off ends the exchange.
            upstream.abort()
        return done

    async def _respond(self, request: ProxyRequest, upstream: Leg) -> bool:
        """Relay the response; True when the client connection may carry more."""
        reader = HeadReader()
        try:
            response = await self._final_head(request, upstream, reader)
        except (HttpError, _UpstreamClosed, OSError) as exc:
            self.drop_upstream()
            self._client.write(gateway_timeout() if isinstance(exc, TimeoutError)
                               else bad_gateway())
            return False
        upstream.unread(reader.take_rest())
        if response.status == HTTPStatus.SWITCHING_PROTOCOLS:
            await self._upgrade(response, upstream)
            return False
        return await self._relay_body(request, response, upstream)

    async def _final_head(self, request: ProxyRequest, upstream: Leg,
                          reader: HeadReader) -> ResponseHead:
        """The final response head; interim 1xx heads go on to the client as they come."""
        async with asyncio.timeout(self._idle):
            while True:
                while (head := reader.next_head()) is NEED_DATA:
                    data = await upstream.read()
                    if not data:
                        raise _UpstreamClosed
                    reader.receive_data(data)
                response = parse_response_head(head)
                if response.status >= 200 or response.status == HTTPStatus.SWITCHING_PROTOCOLS:
                    if response.status == 101 and request.upgrade is None:
                        raise HttpError(HTTPStatus.BAD_GATEWAY, "unasked-for protocol switch")
                    return response
                self._client.write(response.encode())

    async def _upgrade(self, response: ResponseHead, upstream: Leg) -> None:
        self._client.write(client_response_head(response, keep_alive=False,
                                                client_version=(1, 1)))
        self._upstream = self._upstream_target = None
        await relay(self._client, upstream, self._idle)

    async def _relay_body(self, request: ProxyRequest, response: ResponseHead,
                          upstream: Leg) -> bool:
        length = response_body(response, request.head.method)
        keep_client = request.keep_alive and length.framing is not Framing.UNTIL_CLOSE
        head = client_response_head(response, keep_alive=keep_client,
                                    client_version=request.head.version)
        scanner = BodyScanner(length, HTTPStatus.BAD_GATEWAY)
        try:
            _send_head(self._client, head, upstream, scanner)
            done = await _pump(upstream, self._client, scanner, self._idle)
        except (WireError, OSError):
            done = False
        reusable = (done and keep_client
                    and wants_keep_alive(response.version, response.headers))
        if not reusable:
            self.drop_upstream()
        return done and keep_client


def _send_head(client: Leg, head: bytes, upstream: Leg, scanner: BodyScanner) -> None:
    """Send the response head with whatever of the body has already arrived, in one write:
    for small responses the send per write is most of the cost of a forwarded request."""
    arrived = upstream.take_inbox() if not scanner.done else b""
    try:
        used = scanner.feed(arrived)
    except WireError:
        client.write(head)
        raise
    upstream.unread(arrived[used:])
    client.write(head + arrived[:used])


async def _pump(source: Leg, sink: Leg, scanner: BodyScanner, idle: float) -> bool:
    """Pass one body from `source` to `sink` untouched; True if it arrived whole. Each wait,
    for bytes or for the sink to drain, may last `idle` seconds."""
    while not scanner.done:
        async with asyncio.timeout(idle):
            data = await source.read()
        if not data:
            return scanner.ends_at_close
        used = scanner.feed(data)
        sink.write(data if used == len(data) else data[:used])
        source.unread(data[used:])
        async with asyncio.timeout(idle):
            await sink.drain()
    return True
