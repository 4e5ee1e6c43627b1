"""`TrafficCounters`: what a listener has carried — connections (total, active, turned away,
failed handshakes), requests by way in and outcome, bytes each way, and when it last moved a
byte. Plain integers, added to on the hot path; `/metrics` takes them from a snapshot.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import enum
import time


class WayIn(enum.StrEnum):
    """How a client asked for its request."""

    HTTP = "http"  # a plain request forwarded by absolute URI
    CONNECT = "connect"
    SOCKS5 = "socks5"
    SOCKS4 = "socks4"


class RequestOutcome(enum.StrEnum):
    OK = "ok"  # an upstream was connected (or a kept-alive one carried it)
    FAILED = "failed"  # no upstream could be reached
    REFUSED_AUTH = "refused_auth"  # the login was refused (or missing where one is needed)
    RATE_LIMITED = "rate_limited"  # a policy said no: a per-user cap was reached


@dataclasses.dataclass(slots=True)
class TrafficCounters:
    connections_total: int = 0
    connections_active: int = 0
    connections_rejected: int = 0
    handshake_failures: int = 0
    bytes_received: int = 0
    """Bytes clients sent to the listener, handshakes included."""
    bytes_sent: int = 0
    """Bytes relayed toward clients from the far side."""
    last_activity: float | None = None
    """Wall-clock time (seconds since the epoch) of the last byte either way."""
    requests: dict[tuple[WayIn, RequestOutcome], int] = dataclasses.field(default_factory=dict)
    """Requests dialed or turned away, by way in and outcome."""
    kept_alive_requests: int = 0
    """Plain requests carried over the upstream connection of the one before, nothing
    dialed: http/ok too. A plain integer: `bench/forward_cycle.py` counts it per exchange."""

    def count_request(self, way: WayIn, outcome: RequestOutcome) -> None:
        key = (way, outcome)
        self.requests[key] = self.requests.get(key, 0) + 1

    def request_counts(self) -> dict[tuple[WayIn, RequestOutcome], int]:
        """Every request so far, by way in and outcome."""
        counts = dict(self.requests)
        if self.kept_alive_requests:
            ok = (WayIn.HTTP, RequestOutcome.OK)
            counts[ok] = counts.get(ok, 0) + self.kept_alive_requests
        return counts

    def count_received(self, size: int) -> None:
        self.bytes_received += size
        self.last_activity = time.time()

    def count_sent(self, size: int) -> None:
        self.bytes_sent += size
        self.last_activity = time.time()

    def snapshot(self) -> TrafficCounters:
        """A copy that stays still while the listener runs on."""
        return dataclasses.replace(self, requests=dict(self.requests))
