"""What every client-side handshake has in common: the `NEED_DATA` marker, the `Established`
event and the `ClientHandshake` protocol a driver runs to completion.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from proxyfleet.wire.target import Target


class _Need(enum.Enum):
    DATA = "need data"


NEED_DATA: Final = _Need.DATA
"""Returned by `next_event()` when the machine cannot go on without more bytes."""

NeedData = Literal[_Need.DATA]


@dataclass(frozen=True, slots=True)
class Established:
    """The tunnel is open. `bound` is the address the proxy reports, when it reports one;
    `early_data` is what arrived after the handshake and belongs to the tunnel."""

    bound: Target | None
    early_data: bytes = b""


class ClientHandshake(Protocol):
    """A client side of a proxy handshake. Loop: call `next_event()`, send what
    `data_to_send()` gives (a step may queue bytes), and while the event is NEED_DATA feed the
    proxy's reply to `receive_data`. Ends with `Established` or a `WireError`."""

    def data_to_send(self) -> bytes: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> Established | NeedData: ...
