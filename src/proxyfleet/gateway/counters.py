"""`TrafficCounters`: what a listener has carried — connections (total, active, turned away,
failed handshakes), bytes each way, and when it last moved a byte.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import time


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

    def count_received(self, size: int) -> None:
        self.bytes_received += size
        self.last_activity = time.time()

    def count_sent(self, size: int) -> None:
        self.bytes_sent += size
        self.last_activity = time.time()

    def snapshot(self) -> TrafficCounters:
        """A copy that stays still while the listener runs on."""
        return dataclasses.replace(self)
