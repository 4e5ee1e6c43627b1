"""Absolute-URI forwarding on a kept-alive connection, driven by the legs' callbacks.

Once the session has a request authorized and an upstream connected, `forward()` runs the
exchanges: each request head is rewritten to origin form and sent up, its body passed on as
it comes, the response head rewritten for the client and its body passed down, framed by
Content-Length, chunked encoding or the close of the connection. The next request on the
connection goes the same way without waking a coroutine, as long as it goes to the same
target with the same credentials; anything else (another target, other credentials, CONNECT)
is handed back to the session, which authorizes and dials, then calls `forward()` again.
A `101 Switching Protocols` answer to a request that asked to upgrade is handed back too,
to become a tunnel.

Requests are served one at a time: a client that pipelines has its next request read (and
its connection held) only once the response before it has gone out whole.

Every request head on the connection, not only the first, must arrive whole within
`head_timeout` (the listener's handshake time) of its first byte: a client that trickles a
head byte by byte would otherwise restart the idle timer with each byte and hold its
connection for ever. Only a connection with no request in progress and no head begun is idle.

May import `proxyfleet.wire` and the standard library.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from proxyfleet.gateway.counters import TrafficCounters
from proxyfleet.gateway.idle import IdleWatch
from proxyfleet.gateway.leg import Leg
from proxyfleet.wire.errors import WireError
from proxyfleet.wire.handshake import NEED_DATA
from proxyfleet.wire.http_body import NO_BODY, BodyLength, BodyScanner, Framing, response_body
from proxyfleet.wire.http_head import HeadReader, HttpError, ResponseHead, parse_response_head
from proxyfleet.wire.http_plain import plain_response, whole_plain_response
from proxyfleet.wire.http_proxy import (
    HttpProxyServer,
    ProxyRequest,
    bad_gateway,
    client_response_head,
    forward_head,
    gateway_timeout,
    wants_keep_alive,
)


@dataclass(frozen=True, slots=True)
class Handback:
    """How forwarding ended: with a request for the session to serve (`request`), with a
    protocol switch to relay raw (`upgrade`), or with the connection done (neither)."""

    request: ProxyRequest | None = None
    upgrade: bool = False
    upstream_reusable: bool = False


async def forward(client: Leg, upstream: Leg, parser: HttpProxyServer, request: ProxyRequest,
                  *, continues: Callable[[ProxyRequest], bool], idle_timeout: float,
                  head_timeout: float, counters: TrafficCounters) -> Handback:
    """Serve `request` over `upstream`, then every following request `continues` accepts.

    `parser` holds what the client sent past the request head. Raises nothing for the
    peers' misbehaviour: the client gets the proxy's answer (400, 502, 504) and the
    connection is done.
    """
    exchanges = _Exchanges(client, upstream, parser, continues, (idle_timeout, head_timeout),
                           counters)
    exchanges.begin(request)
    try:
        return await exchanges.finished
    finally:
        exchanges.end(Handback())


class _Exchanges:
    def __init__(self, client: Leg, upstream: Leg, parser: HttpProxyServer,
                 continues: Callable[[ProxyRequest], bool], timeouts: tuple[float, float],
                 counters: TrafficCounters) -> None:
        self.finished: asyncio.Future[Handback] = asyncio.get_running_loop().create_future()
        self._client = client
        self._upstream = upstream
        self._parser = parser
        self._continues = continues
        self._counters = counters
        idle_timeout, self._head_timeout = timeouts
        self._idle = IdleWatch((client, upstream), idle_timeout, self._on_idle)
        # Runs while a later request head is coming in: bytes of it do not reset it.
        self._head_timer: asyncio.TimerHandle | None = None
        # The exchange in flight, if any.
        self._request: ProxyRequest | None = None
        self._request_body: BodyScanner | None = None
        self._heads = HeadReader()
        self._response_body: BodyScanner | None = None
        self._keep_client = False
        # The connections' states across exchanges.
        self._upstream_fit = True
        self._client_eof = False

    def begin(self, request: ProxyRequest) -> None:
        self._client.attach(self, self._upstream, self._from_client)
        self._upstream.attach(self, self._client, self._from_upstream)
        self._idle.start()
        if self._client.closed or self._upstream.closed:
            self.end(Handback())
            return
        self._upstream_fit = not self._upstream.at_eof
        arrived = self._client.take_inbox()
        self._client_eof = self._client.at_eof
        self._start(request, arrived)
        arrived = self._upstream.take_inbox()
        if arrived and not self.finished.done():
            self._from_upstream(arrived)

    def end(self, handback: Handback) -> None:
        if self.finished.done():
            return
        self._idle.stop()
        self._stop_head_timer()
        self._client.detach()
        self._upstream.detach()
        self.finished.set_result(handback)

    # Leg events

    def on_eof(self, leg: Leg) -> None:
        if leg is self._client:
            self._client_eof = True
            if self._request_body is not None:
                # The origin cannot tell the body ended early; cutting it off ends it.
                self._upstream.abort()
                self.end(Handback())
            elif self._request is None:
                self._next_request()
            return
        self._upstream_fit = False
        if self._request is None:
            return
        if self._response_body is not None and self._response_body.ends_at_close:
            self._response_done()
        elif self._response_body is None:
            self._refuse(bad_gateway())
        else:
            self._client.abort()  # a body cut short: the client must not take it as whole
            self.end(Handback())

    def on_lost(self, leg: Leg) -> None:
        if leg is self._upstream and self._request is not None and self._response_body is None:
            self._refuse(bad_gateway())
        self.end(Handback())

    def on_bulk(self) -> None:
        """Bodies pass through the callbacks, which must see where each ends."""

    def _on_idle(self) -> None:
        if self._request is not None and self._response_body is None:
            self._refuse(gateway_timeout())
        else:
            self.end(Handback())

    # Client to upstream

    def _from_client(self, data: bytes) -> None:
        if self._request_body is not None:
            data = self._send_body(data)
        if not data or self.finished.done():
            return
        if self._request is None and (request := self._whole_plain_request(data)) is not None:
            self._take(request)
            return
        self._parser.receive_data(data)
        if self._request is None:
            self._next_request()
        else:
            # Pipelined: the next request waits, unread, until this response is out.
            self._client.hold(True)

    def _next_request(self) -> None:
        try:
            request = self._parser.next_event()
        except WireError as exc:
            self._counters.handshake_failures += 1
            self._refuse(exc.answer)
            return
        if request is NEED_DATA:
            if self._client_eof:
                self.end(Handback(upstream_reusable=self._upstream_fit))
            elif self._head_timer is None and self._parser.pending:
                self._head_timer = asyncio.get_running_loop().call_later(
                    self._head_timeout, self._on_head_late)
            return
        self._take(request)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _on_head_late(self) -> None:
        """A request head begun and not finished in time: the connection is done."""
        self._head_timer = None
        self._counters.handshake_failures += 1
        self._client.abort()
        self.end(Handback())

    def _whole_plain_request(self, data: bytes) -> ProxyRequest | None:
        try:
            return self._parser.whole_plain_request(data)
        except WireError:
            return None  # the general path says so, in the same words

    def _take(self, request: ProxyRequest) -> None:
        """Serve `request` here if it may go where the last one went, else hand it back."""
        self._stop_head_timer()
        if not self._upstream_fit or not self._continues(request):
            self.end(Handback(request, upstream_reusable=self._upstream_fit))
            return
        self._counters.kept_alive_requests += 1
        self._start(request, b"")

    def _start(self, request: ProxyRequest, arrived: bytes) -> None:
        self._request = request
        self._upstream.write(forward_head(request, keep_alive=request.keep_alive))
        self._request_body = None
        if request.body is not NO_BODY:
            body = BodyScanner(request.body, HTTPStatus.BAD_REQUEST)
            self._request_body = None if body.done else body
        rest = self._parser.take_rest() if self._parser.pending else b""
        if arrived:
            rest += arrived
        if rest:
            self._from_client(rest)
        if self._client_eof and not self.finished.done():
            self.on_eof(self._client)

    def _send_body(self, data: bytes) -> bytes:
        """Pass on what belongs to the request body; returns what follows it."""
        assert self._request_body is not None
        try:
            used = self._request_body.feed(data)
        except WireError as exc:
            self._upstream.abort()
            self._refuse(exc.answer if self._response_body is None else b"")
            return b""
        self._upstream.write(data if used == len(data) else data[:used])
        if self._request_body.done:
            self._request_body = None
        return data[used:]

    # Upstream to client

    def _from_upstream(self, data: bytes) -> None:
        if self._request is None:
            # Bytes nobody asked for: this connection can carry no further request.
            self._upstream_fit = False
            return
        if self._response_body is not None:
            self._pass_body(data)
        elif self._heads.pending or not self._whole_plain_response(data):
            self._heads.receive_data(data)
            self._read_heads()

    def _whole_plain_response(self, data: bytes) -> bool:
        """Serve a response that came whole in one read and is plain (`http_plain`), as it
        came; False, with nothing done, for anything else."""
        request = self._request
        assert request is not None
        if request.version != (1, 1):
            return False
        closes = whole_plain_response(data, request.method)
        may_keep = request.keep_alive and self._request_body is None
        if closes is None or closes is may_keep:
            return False
        self._keep_client = may_keep
        self._upstream_fit = self._upstream_fit and not closes
        self._client.write(data if self._upstream.watcher is None else self._watched(data))
        self._response_done()
        return True

    def _watched(self, head: bytes) -> bytes:
        """`head` (and whatever follows it) with the watcher's header lines added after the
        status line; the watcher hears the status."""
        watcher = self._upstream.watcher
        assert watcher is not None
        extra = watcher.response(int(head[9:12]))
        if not extra:
            return head
        end = head.index(b"\r\n") + 2
        return head[:end] + extra + head[end:]

    def _read_heads(self) -> None:
        request = self._request
        assert request is not None
        while True:
            try:
                head = self._heads.next_head()
                if head is NEED_DATA:
                    return
                # A final answer before the request body is all sent ends the connection.
                may_keep = request.keep_alive and self._request_body is None
                plain = (plain_response(head, request.method)
                         if request.version == (1, 1) else None)
                if plain is not None and plain.closes is not may_keep:
                    # Nothing in the head to replace: it goes on as it came.
                    self._begin_body(head, plain.body, keep_client=may_keep,
                                     upstream_keeps=not plain.closes)
                    return
                response = parse_response_head(head)
                if response.status == HTTPStatus.SWITCHING_PROTOCOLS:
                    if request.upgrade is None:
                        raise HttpError(HTTPStatus.BAD_GATEWAY, "unasked-for protocol switch")
                    self._switch(response)
                    return
                if response.status < 200:  # interim: passed on as it comes
                    self._client.write(response.encode())
                    continue
                length = response_body(response, request.method)
                keep_client = may_keep and length.framing is not Framing.UNTIL_CLOSE
                head = client_response_head(response, keep_alive=keep_client,
                                            client_version=request.version)
                self._begin_body(head, length, keep_client=keep_client,
                                 upstream_keeps=wants_keep_alive(response.version,
                                                                 response.headers))
                return
            except WireError:
                self._upstream.abort()
                self._refuse(bad_gateway())
                return

    def _switch(self, response: ResponseHead) -> None:
        self._client.write(client_response_head(response, keep_alive=False,
                                                client_version=(1, 1)))
        rest = self._heads.take_rest()  # leaves the reader empty, ready for the next head
        self.end(Handback(upgrade=True))
        self._upstream.unread(rest)

    def _begin_body(self, head: bytes, length: BodyLength, *, keep_client: bool,
                    upstream_keeps: bool) -> None:
        if self._upstream.watcher is not None:
            head = self._watched(head)
        self._keep_client = keep_client
        self._upstream_fit = self._upstream_fit and upstream_keeps
        self._response_body = scanner = BodyScanner(length, HTTPStatus.BAD_GATEWAY)
        arrived = self._heads.take_rest()
        try:
            used = scanner.feed(arrived)
        except WireError:
            # The head is out; the client sees the body cut short.
            self._client.write(head)
            self._upstream.abort()
            self._refuse(b"")
            return
        # The head and what of the body came with it in one write: for small responses the
        # send per write is most of the cost of a forwarded request.
        self._client.write(head + arrived if used == len(arrived) else head + arrived[:used])
        if used < len(arrived):
            self._upstream_fit = False
        if scanner.done:
            self._response_done()

    def _pass_body(self, data: bytes) -> None:
        scanner = self._response_body
        assert scanner is not None
        try:
            used = scanner.feed(data)
        except WireError:
            self._upstream.abort()
            self._client.abort()
            self.end(Handback())
            return
        self._client.write(data if used == len(data) else data[:used])
        if used < len(data):
            self._upstream_fit = False
        if scanner.done:
            self._response_done()

    def _response_done(self) -> None:
        if self._request_body is not None:
            # The origin answered before the body was all sent: the rest cannot follow.
            self._upstream.abort()
            self._upstream_fit = self._keep_client = False
        self._request = self._response_body = None
        if not self._keep_client:
            self.end(Handback())
            return
        self._client.hold(False)
        if self._parser.pending or self._client_eof:
            self._next_request()

    def _refuse(self, answer: bytes) -> None:
        """Answer the client with the proxy's own error and end the connection."""
        if answer:
            self._client.write(answer)
        self._upstream_fit = False
        self.end(Handback())
