"""What goes wrong while checking a proxy, as typed errors, and how a verdict says it.

Protocol trouble is a `HandshakeError`; it subclasses `ConnectionError` so that callers
catching network errors (`OSError`) catch it too. Imports only the standard library.
"""

from __future__ import annotations

import errno


class HandshakeError(ConnectionError):
    """The proxy (or the judge behind it) answered bytes that do not mean "go on"."""


class ProxyAuthRejected(HandshakeError):
    """The proxy refused our credentials, or wanted some we did not have."""


class BadJudgeAnswer(HandshakeError):
    """What came back through the proxy is not a judge report."""


_PLAIN_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EMFILE: "too many open files on the checker",
}


def describe(error: OSError) -> str:
    """A short, stable phrase for a network error, fit for a check's `detail`."""
    if isinstance(error, HandshakeError):
        return str(error)
    words = _PLAIN_WORDS.get(error.errno or 0)
    if words is None and isinstance(error, ConnectionRefusedError):
        words = _PLAIN_WORDS[errno.ECONNREFUSED]
    return words or f"{type(error).__name__}: {error}"
