"""Records: a JSON object or a CSV row, as named fields, to proxies.

Lists name their columns many ways; `Field` is the fixed set of what a column can mean, with
the names each meaning goes by. Imports only `core` and `address`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Iterator, Mapping

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers.address import make_address, parse_line, protocol_named


class Field(enum.Enum):
    HOST = ("ip", "host", "address", "addr", "server", "ip_address", "ipaddress", "proxy_ip",
            "proxy_host", "hostname")
    PORT = ("port", "proxy_port")
    PROTOCOL = ("protocol", "protocols", "scheme", "type", "proxy_type")
    USERNAME = ("username", "user", "login")
    PASSWORD = ("password", "pass", "pwd")
    # A whole proxy in one value: "1.2.3.4:8080" or "socks5://user:pass@host:1080".
    LINE = ("proxy", "url")


Record = Mapping[Field, object]

_ALIASES: dict[str, Field] = {alias: field for field in Field for alias in field.value}
_NAME_NOISE = re.compile(r"[\s\-]+")
_PROTOCOL_SEPARATORS = re.compile(r"[\s,;/|]+")


def field_named(name: str) -> Field | None:
    key = _NAME_NOISE.sub("_", name.strip().strip("\"'").strip().lower())
    return _ALIASES.get(key)


def record_of(pairs: Iterable[tuple[str, object]]) -> dict[Field, object]:
    """Named values as a record; the first column of a meaning wins over later ones."""
    record: dict[Field, object] = {}
    for name, value in pairs:
        field = field_named(name)
        if field is not None:
            record.setdefault(field, value)
    return record


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value).strip() or None
    return None


def _protocol_names(value: object) -> list[str]:
    if isinstance(value, str):
        return [name for name in _PROTOCOL_SEPARATORS.split(value) if name]
    if isinstance(value, list):
        return [name for name in value if isinstance(name, str)]
    return []


def protocols_of(value: object, default: ProxyProtocol) -> list[ProxyProtocol]:
    """The protocols a record names, or the default when it names none.

    A name we do not know drops that protocol rather than falling back to the default: a
    proxy filed under the wrong protocol would only ever fail its checks.
    """
    names = _protocol_names(value)
    if not names:
        return [default]
    found = (protocol_named(name) for name in names)
    return list(dict.fromkeys(protocol for protocol in found if protocol is not None))


def _with_credentials(address: ProxyAddress | None, record: Record) -> ProxyAddress | None:
    username = _text(record.get(Field.USERNAME))
    if address is None or address.username is not None or username is None:
        return address
    return dataclasses.replace(address, username=username,
                               password=_text(record.get(Field.PASSWORD)))


def _address(record: Record, protocol: ProxyProtocol) -> ProxyAddress | None:
    host = _text(record.get(Field.HOST))
    port = _text(record.get(Field.PORT))
    if host is not None and port is not None:
        return make_address(host, port, protocol, _text(record.get(Field.USERNAME)),
                            _text(record.get(Field.PASSWORD)))
    # No separate port: the host column holds a whole proxy ("1.2.3.4:8080"), or a line column.
    line = host or _text(record.get(Field.LINE))
    return None if line is None else _with_credentials(parse_line(line, protocol), record)


def addresses_of(record: Record, default: ProxyProtocol) -> Iterator[ProxyAddress]:
    """One proxy per protocol the record names (`"protocols": ["http", "socks5"]`)."""
    for protocol in protocols_of(record.get(Field.PROTOCOL), default):
        address = _address(record, protocol)
        if address is not None:
            yield address
