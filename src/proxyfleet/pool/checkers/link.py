"""A connection to a proxy for one check: `ProxyLink`, a bare asyncio `Protocol` that runs a
client conversation (`conversation.Conversation`) in its own callbacks: it sends a step's
message, gathers what arrives in one buffer, hands the generator the bytes it waited for as
soon as they are in, and resolves one future with the conversation's result or error.

A check is a strict conversation (send, wait for the answer, send again), so one buffer and
one future are all it needs; awaiting each answer would wake the check's whole coroutine chain
once per message, and a `StreamReader`/`StreamWriter` pair costs two more objects and a
lock-step `drain`, which shows at thousands of checks a second. The deadline is one timer
handle: when it fires the conversation fails with `TimeoutError` and the connection is
aborted. Imports this package and the standard library.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from proxyfleet.pool.checkers.conversation import (
    HEAD,
    HEAD_END,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    TO_CLOSE,
    Conversation,
    Step,
    closed_early,
    head_too_long,
    too_large,
)
from proxyfleet.pool.checkers.errors import HandshakeError

_T = TypeVar("_T")


class ProxyLink(asyncio.Protocol):
    """One connection to a proxy, with at most one conversation running over it."""

    __slots__ = ("_buffer", "_closed", "_conversation", "_error", "_result", "_step", "_timer",
                 "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._closed = False
        self._error: Exception | None = None
        self._conversation: Conversation[Any] | None = None
        self._step: Step | None = None  # the step waiting for bytes
        self._result: asyncio.Future[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio's without subclassing them: no isinstance
        # (and no `cast`, a call per connection).
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._step is not None:
            self._resume(self._step)

    def eof_received(self) -> bool:
        self._closed = True
        if self._step is not None:
            self._resume(self._step)
        return False  # a half-closed proxy has nothing more to say: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._error = exc
        if self._step is not None:
            self._resume(self._step)

    # --- the check's side --------------------------------------------------------------------

    def converse(self, conversation: Conversation[_T], deadline: float | None = None
                 ) -> asyncio.Future[_T]:
        """Run `conversation` over this connection. The future holds its result or its error;
        at `deadline` (loop time) it fails with `TimeoutError` and the connection is aborted."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[_T] = loop.create_future()
        self._result, self._conversation = result, conversation
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._expire)
        self._advance(None)
        return result

    def close(self) -> None:
        result = self._stop()
        if result is not None:
            result.cancel()  # a conversation cut short: its check was cancelled
        if self.transport is not None:
            self.transport.close()

    # --- driving the conversation ------------------------------------------------------------

    def _advance(self, answer: bytes | None) -> None:
        """Hand the conversation `answer`; take its steps while the buffer already holds what
        they wait for."""
        conversation = self._conversation
        assert conversation is not None
        try:
            while True:
                step = conversation.send(answer)  # type: ignore[arg-type]  # None starts it
                if step.message:
                    if self.transport is None or self._closed:
                        raise HandshakeError("connection closed before we could speak")
                    self.transport.write(step.message)
                answer = self._take(step)
                if answer is None:
                    self._step = step
                    return
        except StopIteration as finished:
            self._settle(finished.value, None)
        except Exception as error:  # the conversation's verdict, or what the link saw
            self._settle(None, error)

    def _resume(self, step: Step) -> None:
        try:
            answer = self._take(step)
        except Exception as error:
            self._settle(None, error)
            return
        if answer is not None:
            self._step = None
            self._advance(answer)

    def _take(self, step: Step) -> bytes | None:
        """What `step` waits for, out of the buffer; None while it is not all in."""
        buffer = self._buffer
        if step.size >= 0:
            if len(buffer) >= step.size:
                chunk = bytes(buffer[:step.size])
                del buffer[:step.size]
                return chunk
        elif step.size == HEAD:
            if (end := buffer.find(HEAD_END)) >= 0:
                if end > MAX_HEAD_BYTES:
                    raise head_too_long(step.waiting_for)
                head = bytes(buffer[:end])
                del buffer[:end + len(HEAD_END)]
                return head
            if len(buffer) > MAX_HEAD_BYTES:
                raise head_too_long(step.waiting_for)
        elif step.size == TO_CLOSE:
            if len(buffer) > MAX_BODY_BYTES:
                raise too_large(step.waiting_for)
            if self._closed:
                body = bytes(buffer)
                buffer.clear()
                return body
            return None
        if self._closed:
            if self._error is not None:
                raise self._error
            raise closed_early(step.waiting_for, buffer)
        return None

    def _expire(self) -> None:
        self._timer = None
        self._settle(None, TimeoutError())
        if self.transport is not None:
            self.transport.abort()

    def _settle(self, value: object, error: BaseException | None) -> None:
        result = self._stop()
        if result is None:
            return
        if error is None:
            result.set_result(value)
        else:
            result.set_exception(error)

    def _stop(self) -> asyncio.Future[Any] | None:
        """End the conversation; its future, if still pending."""
        self._step = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conversation, self._conversation = self._conversation, None
        if conversation is not None:
            conversation.close()
        result, self._result = self._result, None
        return None if result is None or result.done() else result


async def open_link_by(host: str, port: int, deadline: float) -> ProxyLink:
    """A connected `ProxyLink`: `OSError` when nothing accepts the connection, `TimeoutError`
    at `deadline` (loop time). What `asyncio.timeout_at` around `create_connection` does,
    with one timer handle and none of its bookkeeping: this runs once per check."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    cutoff = _Cutoff(task)
    timer = loop.call_at(deadline, cutoff.fire)
    try:
        _, link = await loop.create_connection(ProxyLink, host, port)
        return link
    except asyncio.CancelledError:
        if cutoff.fired and task.uncancel() <= cutoff.cancelling:
            raise TimeoutError from None
        raise  # someone else's cancellation
    finally:
        timer.cancel()


class _Cutoff:
    __slots__ = ("cancelling", "fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.cancelling = task.cancelling()
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()
