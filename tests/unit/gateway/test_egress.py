"""`gateway/egress.py` without I/O: address choice within a prefix, the `ip` commands each
mode runs, and the IPv6-only resolution of the dialer."""

from __future__ import annotations

import ipaddress
import random
import socket

import pytest

from proxyfleet.core.errors import ErrorKind
from proxyfleet.gateway.dialer import DialError, DialFailure
from proxyfleet.gateway.egress import (
    AnyIpEgress,
    AssignEgress,
    AssignFailed,
    EgressMode,
    IpCommandFailed,
    Ipv6Dialer,
    candidates,
    capacity,
    egress_for,
    parse_prefix,
)
from proxyfleet.wire.target import Target

PREFIX = parse_prefix("2001:db8:1:2::/64")


def test_candidates_are_fresh_addresses_of_the_prefix() -> None:
    found = candidates(PREFIX, set(), random.Random(1))
    assert len(set(found)) == len(found) > 1
    assert all(ipaddress.IPv6Address(a) in PREFIX for a in found)
    assert str(PREFIX.network_address) not in found


def test_small_prefixes_offer_only_unused_addresses() -> None:
    prefix = parse_prefix("2001:db8::/126")
    assert capacity(prefix) == 3
    used = {"2001:db8::1", "2001:db8::2"}
    assert candidates(prefix, used, random.Random(2)) == ["2001:db8::3"]
    assert candidates(prefix, used | {"2001:db8::3"}, random.Random(2)) == []


def test_prefix_must_be_ipv6_without_host_bits() -> None:
    with pytest.raises(ipaddress.AddressValueError):
        parse_prefix("10.0.0.0/8")
    with pytest.raises(ValueError, match="has host bits set"):
        parse_prefix("2001:db8::1/64")


class Recorder:
    def __init__(self, failure: str | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.failure = failure

    async def __call__(self, *args: str) -> None:
        self.calls.append(args)
        if self.failure is not None:
            raise IpCommandFailed(args, self.failure)


async def test_assign_adds_a_nodad_deprecated_128_and_removes_it() -> None:
    ip = Recorder()
    egress = AssignEgress(ip)
    await egress.claim("eth0", "2001:db8:1:2::5")
    await egress.release("eth0", "2001:db8:1:2::5")
    assert ip.calls == [
        ("-6", "addr", "add", "2001:db8:1:2::5/128", "dev", "eth0", "nodad",
         "preferred_lft", "0"),
        ("-6", "addr", "del", "2001:db8:1:2::5/128", "dev", "eth0")]


async def test_a_refused_assignment_is_failed_to_assign_ipv6() -> None:
    egress = AssignEgress(Recorder("RTNETLINK answers: Operation not permitted"))
    with pytest.raises(AssignFailed) as raised:
        await egress.claim("eth0", "2001:db8:1:2::5")
    assert raised.value.message == "Failed to assign IPv6"
    assert raised.value.kind is ErrorKind.INTERNAL


async def test_restoring_accepts_an_address_still_on_the_interface() -> None:
    ip = Recorder("Error: ipv6: address already assigned.")
    egress = AssignEgress(ip)
    assert await egress.claim("eth0", "2001:db8:1:2::5", restoring=True) is None
    assert ip.calls == [("-6", "addr", "add", "2001:db8:1:2::5/128", "dev", "eth0", "nodad",
                         "preferred_lft", "0")]
    # Only when restoring: a new instance must not share an address already in use.
    with pytest.raises(AssignFailed):
        await egress.claim("eth0", "2001:db8:1:2::5")
    # And only that error: another failure while restoring is still one.
    failing = AssignEgress(Recorder("RTNETLINK answers: Operation not permitted"))
    with pytest.raises(AssignFailed):
        await failing.claim("eth0", "2001:db8:1:2::5", restoring=True)


async def test_anyip_routes_each_prefix_once_and_adds_nothing() -> None:
    ip = Recorder()
    egress = egress_for(EgressMode.ANYIP, ip)
    assert isinstance(egress, AnyIpEgress) and egress.freebind
    await egress.prepare("eth0", PREFIX)
    await egress.prepare("eth0", PREFIX)
    await egress.claim("eth0", "2001:db8:1:2::5")
    assert ip.calls == [("-6", "route", "replace", "local", str(PREFIX), "dev", "lo")]


class Zone:
    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[socket.AddressFamily] = []

    async def addresses(self, host: str, family: socket.AddressFamily) -> list[str]:
        self.asked.append(family)
        if not self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "no such name")
        return self.answers


async def test_names_resolve_through_aaaa_only_and_mapped_answers_are_dropped() -> None:
    zone = Zone(["2001:db8::80", "::ffff:192.0.2.1"])
    dialer = Ipv6Dialer("2001:db8:1:2::5", zone)
    assert await dialer.resolve(Target.of("example.test", 80)) == ["2001:db8::80"]
    assert zone.asked == [socket.AF_INET6]


@pytest.mark.parametrize(("host", "failure"), [
    ("v4only.test", DialFailure.NO_IPV6),
    ("192.0.2.1", DialFailure.NETWORK_UNREACHABLE),
])
async def test_targets_without_ipv6_fail_before_any_connection(
        host: str, failure: DialFailure) -> None:
    dialer = Ipv6Dialer("2001:db8:1:2::5", Zone([]))
    with pytest.raises(DialError) as raised:
        await dialer.dial(Target.of(host, 80), lambda: pytest.fail("no leg expected"))
    assert raised.value.failure is failure


def test_an_ipv6_only_refusal_says_so_over_http() -> None:
    from proxyfleet.gateway.http_session import dial_answer

    answer = dial_answer(DialFailure.NO_IPV6)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway - IPv6 Only\r\n")
    assert answer.endswith(b"\r\n\r\n502 Bad Gateway - IPv6 Only\n")
    assert dial_answer(DialFailure.REFUSED).startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
