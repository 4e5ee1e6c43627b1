"""Where a proxy is asked to connect: `Target` (host and port) and its parsing from text.

Standard library only; imports nothing of the project.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from dataclasses import dataclass

from proxyfleet.wire.errors import BadTarget

# Letters, digits, hyphen and underscore per label: underscores occur in real service names.
_HOST_NAME = re.compile(r"^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)"
                        r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$")
_MAX_PORT = 65535


class HostKind(enum.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class Target:
    """A host (IP literal without brackets, or a lower-case name) and a TCP port."""

    host: str
    port: int

    @classmethod
    def of(cls, host: str, port: int) -> Target:
        """Normalise and check: IP literals in compressed form, names lower-case."""
        if not 0 <= port <= _MAX_PORT:
            raise BadTarget(f"port out of range: {port}")
        return cls(_normal_host(host), port)

    @property
    def kind(self) -> HostKind:
        return _kind(self.host)

    @property
    def authority(self) -> str:
        """`host:port`, with brackets around an IPv6 literal."""
        # Of the normal forms only an IPv6 literal holds a colon.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@functools.lru_cache(maxsize=4096)
def _kind(host: str) -> HostKind:
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return HostKind.NAME
    return HostKind.IPV4 if version == 4 else HostKind.IPV6


def _normal_host(host: str) -> str:
    bracketed = host.startswith("[") and host.endswith("]")
    bare = host[1:-1] if bracketed else host
    try:
        return ipaddress.ip_address(bare).compressed
    except ValueError:
        pass
    name = bare.lower()
    if bracketed or not _HOST_NAME.match(name):
        raise BadTarget(f"not a host: {host!r}")
    return name


@functools.lru_cache(maxsize=4096)
def parse_authority(text: str, default_port: int | None = None) -> Target:
    """Parse `host:port`, `[v6]:port` or, when `default_port` is given, a bare host.

    Remembers recent answers: a proxy sees the same few authorities over and over, and a
    `Target` is immutable. (Refusals are not remembered; they raise every time.)
    """
    host, port_text = _split_authority(text)
    if port_text is None:
        if default_port is None:
            raise BadTarget(f"no port in {text!r}")
        return Target.of(host, default_port)
    # str.isdigit() takes "²" too, which int() refuses: ASCII digits only.
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise BadTarget(f"bad port in {text!r}")
    return Target.of(host, int(port_text))


def _split_authority(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise BadTarget(f"unclosed bracket in {text!r}")
        rest = text[end + 1:]
        if rest and not rest.startswith(":"):
            raise BadTarget(f"junk after bracket in {text!r}")
        return text[: end + 1], (rest[1:] if rest else None)
    host, colon, port = text.rpartition(":")
    if not colon:
        return text, None
    if ":" in host:
        raise BadTarget(f"IPv6 literal without brackets: {text!r}")
    return host, port
