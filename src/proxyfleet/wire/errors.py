"""The one error family of the wire codecs: bytes that break a protocol.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations


class WireError(ValueError):
    """Bytes that break a protocol.

    `answer` holds the bytes the protocol itself says back before the connection closes (an
    HTTP error response, a SOCKS failure reply); it is empty where the protocol has nothing to
    say, as after a wrong version byte. Subclasses add the typed code (status, reply) it carries.
    """

    def __init__(self, message: str, answer: bytes = b"") -> None:
        super().__init__(message)
        self.answer = answer


class BadTarget(WireError):
    """A host or port that cannot be a connection target."""
