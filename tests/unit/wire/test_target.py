import pytest

from proxyfleet.wire.errors import BadTarget, WireError
from proxyfleet.wire.target import HostKind, Target, parse_authority


@pytest.mark.parametrize(("text", "host", "port", "kind"), [
    ("example.com:443", "example.com", 443, HostKind.NAME),
    ("Example.COM:80", "example.com", 80, HostKind.NAME),
    ("10.0.0.1:8080", "10.0.0.1", 8080, HostKind.IPV4),
    ("[::1]:443", "::1", 443, HostKind.IPV6),
    ("[2001:DB8:0:0::1]:1", "2001:db8::1", 1, HostKind.IPV6),
    ("_srv.example.com:25", "_srv.example.com", 25, HostKind.NAME),
])
def test_parses_host_and_port(text: str, host: str, port: int, kind: HostKind) -> None:
    target = parse_authority(text)
    assert (target.host, target.port, target.kind) == (host, port, kind)


def test_default_port_applies_only_without_a_port() -> None:
    assert parse_authority("example.com", 80) == Target("example.com", 80)
    assert parse_authority("[::1]", 80) == Target("::1", 80)
    assert parse_authority("example.com:81", 80) == Target("example.com", 81)


@pytest.mark.parametrize("text", [
    "example.com", "example.com:", "example.com:http", "example.com:65536", "::1:80",
    "[::1", "[::1]x", "[example.com]:80", "exa mple.com:80", ":80", "a..b:80",
    "example.com:123456", "-bad.com:80",
])
def test_refuses_what_is_not_an_authority(text: str) -> None:
    with pytest.raises(BadTarget):
        parse_authority(text)


def test_bad_target_is_a_wire_error_and_a_value_error() -> None:
    assert issubclass(BadTarget, WireError)
    assert issubclass(WireError, ValueError)


def test_authority_brackets_ipv6() -> None:
    assert Target.of("::1", 8080).authority == "[::1]:8080"
    assert Target.of("127.0.0.1", 1).authority == "127.0.0.1:1"


@pytest.mark.parametrize("text", ["a.test:\u00b2080", "[::1]:8\u00b9", "a.test:\u0668"])
def test_a_port_of_digits_int_refuses_is_a_bad_target(text: str) -> None:
    # "²", "¹" and "٨" are digits to str.isdigit, but int() takes none of them in a port.
    with pytest.raises(BadTarget, match="bad port"):
        parse_authority(text)
