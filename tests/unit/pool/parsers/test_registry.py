"""The registry: lookup, detection order, self-registration and entry point discovery."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint

import pytest
from structlog.testing import capture_logs

from proxyfleet.core.errors import ErrorKind
from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers import ENTRY_POINT_GROUP, ParserPlugin, ParserRegistry, UnknownParser
from proxyfleet.pool.parsers.plaintext import PlaintextParser
from tests.unit.pool.parsers.outside_plugins import RaisingParser, VendorParser

OUTSIDE = "tests.unit.pool.parsers.outside_plugins"


def entry_point(value: str, name: str = "outside") -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def registry() -> ParserRegistry:
    return ParserRegistry.load(entry_points=[])


def test_builtins_register_themselves(registry: ParserRegistry) -> None:
    assert registry.names() == ["csv", "json", "plaintext"]


def test_describe_lists_plugins_for_stats(registry: ParserRegistry) -> None:
    assert registry.describe() == [{"name": "csv", "type": "SourceParser"},
                                   {"name": "json", "type": "SourceParser"},
                                   {"name": "plaintext", "type": "SourceParser"}]


def test_get_by_name(registry: ParserRegistry) -> None:
    assert registry.get("plaintext").name == "plaintext"
    assert "json" in registry
    assert "yaml" not in registry


def test_an_unknown_name_is_a_typed_invalid_input_error(registry: ParserRegistry) -> None:
    with pytest.raises(UnknownParser) as raised:
        registry.get("yaml")
    assert raised.value.kind is ErrorKind.INVALID
    assert raised.value.details == {"parser_name": "yaml",
                                    "available": ["csv", "json", "plaintext"]}


@pytest.mark.parametrize(("content", "content_type", "expected"), [
    ('[{"ip": "1.2.3.4", "port": 80}]', "application/json", "json"),
    ('{"data": ["1.2.3.4:80"]}', "text/plain", "json"),
    ("ip,port\n1.2.3.4,80\n", "text/csv", "csv"),
    ("1.2.3.4,80\n", None, "csv"),
    ("1.2.3.4:80\n", None, "plaintext"),
    ("# list\nsocks5://1.2.3.4:1080\n", "text/plain", "plaintext"),
    ("[\n1.2.3.4:80\n", None, "plaintext"),
])
def test_detect_prefers_the_most_specific_parser(
        registry: ParserRegistry, content: str, content_type: str | None, expected: str) -> None:
    detected = registry.detect(content, content_type)
    assert detected is not None
    assert detected.name == expected


@pytest.mark.parametrize("content", [
    "", "\x00\x9f\x92\x96\x10garbage\xff\xfe",
    "<!doctype html><html><body><h1>Proxy list</h1><p>Come back later.</p></body></html>",
    '{"error": "rate limited"}', "name,age\nbob,3\n",
])
def test_detect_finds_nothing_in_garbage(registry: ParserRegistry, content: str) -> None:
    assert registry.detect(content, "text/html") is None


def test_adding_a_second_parser_of_a_name_is_refused(registry: ParserRegistry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.add(PlaintextParser())


def test_a_subclass_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ParserPlugin, "_catalogue", dict(ParserPlugin._catalogue))

    class LinesOfAt(ParserPlugin):
        name = "at-lines"

        def parse(self, content: str,
                  default_protocol: ProxyProtocol) -> Iterator[ProxyAddress]:
            yield from ()

    class SharedBase(ParserPlugin):
        """No name of its own: a base for parsers, not a parser."""

    assert LinesOfAt in ParserPlugin.registered()
    assert SharedBase not in ParserPlugin.registered()
    assert "at-lines" in ParserRegistry.load(entry_points=[]).names()


def test_entry_points_add_outside_parsers() -> None:
    registry = ParserRegistry.load(entry_points=[
        entry_point(f"{OUTSIDE}:VendorParser"), entry_point(f"{OUTSIDE}:vendor_instance")])
    assert registry.names() == ["csv", "json", "plaintext", "vendor"]
    assert isinstance(registry.get("vendor"), VendorParser)


def test_an_outside_parser_with_higher_specificity_is_asked_first() -> None:
    registry = ParserRegistry.load(entry_points=[entry_point(f"{OUTSIDE}:VendorParser")])
    detected = registry.detect("VENDOR\n1.2.3.4:80\n", None)
    assert detected is not None
    assert detected.name == "vendor"


@pytest.mark.parametrize(("value", "event"), [
    ("no_such_package.parsers:Parser", "parser_plugin_broken"),
    (f"{OUTSIDE}:Missing", "parser_plugin_broken"),
    (f"{OUTSIDE}:Unconstructible", "parser_plugin_broken"),
    (f"{OUTSIDE}:Nameless", "parser_plugin_invalid"),
    ("proxyfleet.pool.parsers.json_list:_MALFORMED", "parser_plugin_invalid"),
])
def test_a_broken_outside_parser_is_logged_and_skipped(value: str, event: str) -> None:
    with capture_logs() as logs:
        registry = ParserRegistry.load(entry_points=[
            entry_point(value), entry_point(f"{OUTSIDE}:VendorParser")])
    assert registry.names() == ["csv", "json", "plaintext", "vendor"]
    assert [entry["event"] for entry in logs] == [event]
    assert logs[0]["entry_point"] == value


def test_an_outside_parser_cannot_replace_a_builtin() -> None:
    with capture_logs() as logs:
        registry = ParserRegistry.load(entry_points=[
            entry_point("tests.unit.pool.parsers.test_registry:Impostor")])
    assert isinstance(registry.get("plaintext"), PlaintextParser)
    assert [entry["event"] for entry in logs] == ["parser_plugin_duplicate"]


def test_a_builtin_also_declared_as_an_entry_point_is_not_a_duplicate() -> None:
    with capture_logs() as logs:
        registry = ParserRegistry.load(entry_points=[
            entry_point("proxyfleet.pool.parsers.plaintext:PlaintextParser")])
    assert registry.names() == ["csv", "json", "plaintext"]
    assert logs == []


def test_a_parser_that_raises_in_supports_is_passed_over() -> None:
    registry = ParserRegistry([RaisingParser(), PlaintextParser()])
    with capture_logs() as logs:
        detected = registry.detect("1.2.3.4:80", None)
    assert detected is not None
    assert detected.name == "plaintext"
    assert logs[0]["event"] == "parser_supports_failed"


def test_load_reads_the_installed_entry_point_group() -> None:
    # Nothing installed declares outside parsers in this environment.
    assert ParserRegistry.load().names() == ["csv", "json", "plaintext"]


class Impostor(VendorParser):
    name = "plaintext"
