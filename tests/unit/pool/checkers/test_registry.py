"""The checker registry: self-registration, stage order, describe() and entry point discovery."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from structlog.testing import capture_logs

from proxyfleet.pool.checkers import ENTRY_POINT_GROUP, Checker, CheckerRegistry
from proxyfleet.pool.checkers.geoip import GeoIp
from proxyfleet.pool.checkers.tcp import TcpConnect
from tests.unit.pool.checkers.outside_plugins import TargetReachability

OUTSIDE = "tests.unit.pool.checkers.outside_plugins"
BUILTINS = ["geoip", "http", "https", "socks4", "socks5", "tcp_connect"]


def entry_point(value: str, name: str = "outside") -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def registry() -> CheckerRegistry:
    return CheckerRegistry.load(entry_points=[])


def test_builtins_register_themselves(registry: CheckerRegistry) -> None:
    assert registry.names() == BUILTINS


def test_builtins_satisfy_the_protocol(registry: CheckerRegistry) -> None:
    assert all(isinstance(checker, Checker) for checker in registry.ordered())


def test_stages_run_in_order(registry: CheckerRegistry) -> None:
    stages = [(stage, [c.name for c in checkers]) for stage, checkers in registry.stages()]
    assert stages == [
        (1, ["tcp_connect"]),
        (2, ["http", "https", "socks4", "socks5"]),
        (3, ["geoip"]),
    ]


def test_describe(registry: CheckerRegistry) -> None:
    assert registry.describe() == [
        {"name": "tcp_connect", "stage": 1, "priority": 10},
        {"name": "http", "stage": 2, "priority": 10},
        {"name": "https", "stage": 2, "priority": 10},
        {"name": "socks4", "stage": 2, "priority": 10},
        {"name": "socks5", "stage": 2, "priority": 10},
        {"name": "geoip", "stage": 3, "priority": 10},
    ]


def test_priority_orders_checkers_within_a_stage() -> None:
    late, early = TargetReachability(), TargetReachability()
    early.name, early.priority = "early", 5
    registry = CheckerRegistry([late, GeoIp(), early])
    assert [c.name for c in registry.ordered()] == ["early", "geoip", "target_reachability"]


def test_two_checkers_cannot_share_a_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        CheckerRegistry([TcpConnect(), TcpConnect()])


def test_an_outside_checker_instance_is_discovered() -> None:
    registry = CheckerRegistry.load([entry_point(f"{OUTSIDE}:REACHABILITY")])
    assert "target_reachability" in registry
    assert registry.stages()[-1][0] == 3
    assert [c.name for c in registry.stages()[-1][1]] == ["geoip", "target_reachability"]


def test_an_outside_checker_class_is_instantiated() -> None:
    registry = CheckerRegistry.load([entry_point(f"{OUTSIDE}:TargetReachability")])
    assert "target_reachability" in registry


@pytest.mark.parametrize(
    ("value", "event"),
    [
        ("tests.unit.pool.checkers.no_such_module:Thing", "checker_plugin_broken"),
        (f"{OUTSIDE}:NoSuchName", "checker_plugin_broken"),
        (f"{OUTSIDE}:ExplodesOnInit", "checker_plugin_broken"),
        (f"{OUTSIDE}:NotAChecker", "checker_plugin_invalid"),
        (f"{OUTSIDE}:NamelessChecker", "checker_plugin_invalid"),
        (f"{OUTSIDE}:StringStage", "checker_plugin_invalid"),
        (f"{OUTSIDE}:not_even_a_class", "checker_plugin_invalid"),
    ],
)
def test_a_broken_outside_checker_is_logged_and_skipped(value: str, event: str) -> None:
    with capture_logs() as logs:
        registry = CheckerRegistry.load(
            [entry_point(value), entry_point(f"{OUTSIDE}:REACHABILITY")]
        )
    assert registry.names() == sorted([*BUILTINS, "target_reachability"])
    assert [log["event"] for log in logs] == [event]
    assert logs[0]["entry_point"] == value


def test_an_outside_checker_cannot_replace_a_builtin() -> None:
    with capture_logs() as logs:
        registry = CheckerRegistry.load([entry_point(f"{OUTSIDE}:Impostor")])
    assert [log["event"] for log in logs] == ["checker_plugin_duplicate"]
    assert type(registry.ordered()[0]) is TcpConnect


def test_a_builtin_declared_as_an_entry_point_is_not_a_duplicate() -> None:
    with capture_logs() as logs:
        registry = CheckerRegistry.load([entry_point("proxyfleet.pool.checkers.tcp:TcpConnect")])
    assert registry.names() == BUILTINS
    assert logs == []


def test_load_reads_the_installed_entry_points() -> None:
    # Whatever is installed, the built-ins are there and nothing raises.
    assert set(BUILTINS) <= set(CheckerRegistry.load().names())
