"""A real network for the IPv6 egress tests: a "target" namespace joined to the root
namespace by a veth pair, an HTTP server in it that answers with the peer address, and a
route for the egress prefix back to the root side. Every name carries a random suffix and
everything is removed afterwards, even when a test fails.

Only the veth, the namespace and (anyip) a local route for the test's own 2001:db8 prefix on
`lo` are touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 10.0
PEER_SERVER = Path(__file__).with_name("peer_server.py")
TARGET_PORT = 8080


class NetworkUnavailable(Exception):
    """The test network could not be built; the message says why."""


def ip(*args: str) -> str:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"ip {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise NetworkUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class EgressNetwork:
    namespace: str
    root_link: str
    """The root namespace's end of the veth: the interface instances take addresses on."""
    prefix: ipaddress.IPv6Network
    target_address: str

    @property
    def target_url(self) -> str:
        return f"http://[{self.target_address}]:{TARGET_PORT}/"

    def addresses_on_link(self) -> set[str]:
        text = ip("-6", "-o", "addr", "show", "dev", self.root_link)
        return {part.split("/")[0] for part in text.split() if "/" in part}


def _suffix() -> str:
    return secrets.token_hex(3)


def random_prefix(length: int = 64) -> ipaddress.IPv6Network:
    """A fresh 2001:db8 (documentation) prefix, so parallel runs never meet."""
    groups = secrets.token_hex(4)
    base = ipaddress.IPv6Address(f"2001:db8:{groups[:4]}:{groups[4:]}::")
    return ipaddress.IPv6Network(f"{base}/{length}", strict=False)


def _build(suffix: str, prefix: ipaddress.IPv6Network) -> EgressNetwork:
    if shutil.which("ip") is None:
        raise NetworkUnavailable("`ip` (Debian package iproute2) is not installed")
    namespace, root_link, target_link = f"pft-{suffix}", f"pfr{suffix}", f"pfs{suffix}"
    link_net = f"fd5f:{suffix[:4]}:{suffix[4:]}::"
    ip("netns", "add", namespace)
    ip("link", "add", root_link, "type", "veth", "peer", "name", target_link)
    ip("link", "set", target_link, "netns", namespace)
    ip("-6", "addr", "add", f"{link_net}1/64", "dev", root_link, "nodad")
    ip("link", "set", root_link, "up")
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "-6", "addr", "add", f"{link_net}2/64", "dev", target_link, "nodad")
    ip("-n", namespace, "link", "set", target_link, "up")
    ip("-n", namespace, "-6", "route", "add", str(prefix), "via", f"{link_net}1")
    return EgressNetwork(namespace, root_link, prefix, f"{link_net}2")


def _tear_down(network_names: tuple[str, str], prefix: ipaddress.IPv6Network) -> None:
    namespace, root_link = network_names
    for args in (("link", "del", root_link), ("netns", "del", namespace),
                 ("-6", "route", "del", "local", str(prefix), "dev", "lo")):
        with contextlib.suppress(NetworkUnavailable):
            ip(*args)


@contextlib.contextmanager
def peer_server(network: EgressNetwork) -> Iterator[None]:
    process = subprocess.Popen(
        ["ip", "netns", "exec", network.namespace, sys.executable, str(PEER_SERVER),
         network.target_address, str(TARGET_PORT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        ready, _, _ = select.select([process.stdout], [], [], COMMAND_TIMEOUT)
        line = process.stdout.readline() if ready else ""  # `ready`, or it died
        if line.strip() != "ready":
            raise NetworkUnavailable(f"target server did not start: {process.stderr.read()}")
        yield
    finally:
        process.kill()
        process.wait(timeout=COMMAND_TIMEOUT)


@contextlib.contextmanager
def egress_network(prefix_length: int = 64) -> Iterator[EgressNetwork]:
    suffix, prefix = _suffix(), random_prefix(prefix_length)
    names = (f"pft-{suffix}", f"pfr{suffix}")
    try:
        network = _build(suffix, prefix)
        with peer_server(network):
            yield network
    finally:
        _tear_down(names, prefix)
