"""The simulated list server over real HTTP, and the parsers on what it serves."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.pool.parsers import ParserRegistry
from proxyfleet.sim.lists import (
    Behaviour,
    Body,
    CutOff,
    Failing,
    Garbage,
    GeneratedList,
    ListServer,
    Redirect,
    Slow,
)

HTTP, SOCKS5 = ProxyProtocol.HTTP, ProxyProtocol.SOCKS5
TIMEOUT = httpx.Timeout(5.0)

PLAIN = "# free list\n1.2.3.4:8080\nsocks5://u:p@[2001:db8::1]:1080\n999.1.1.1:80\n"
JSON = json.dumps({"data": [{"ip": "5.6.7.8", "port": "3128", "protocols": ["http", "socks5"]}]})
CSV = "IP;Port;Type\n9.9.9.9;1080;socks5\n"


@pytest.fixture
def registry() -> ParserRegistry:
    return ParserRegistry.load(entry_points=[])


async def fetch(url: str, *, limits: httpx.Timeout = TIMEOUT) -> httpx.Response:
    async with httpx.AsyncClient(timeout=limits, follow_redirects=True) as client:
        return await client.get(url)


def parse(registry: ParserRegistry, response: httpx.Response,
          default: ProxyProtocol = HTTP) -> tuple[str | None, list[ProxyAddress]]:
    parser = registry.detect(response.text, response.headers.get("content-type"))
    if parser is None:
        return None, []
    return parser.name, list(parser.parse(response.text, default))


@pytest.mark.parametrize(("body", "expected_parser", "expected"), [
    (Body(PLAIN), "plaintext", [ProxyAddress("1.2.3.4", 8080, HTTP),
                                ProxyAddress("2001:db8::1", 1080, SOCKS5, "u", "p")]),
    (Body(JSON, "application/json"), "json", [ProxyAddress("5.6.7.8", 3128, HTTP),
                                              ProxyAddress("5.6.7.8", 3128, SOCKS5)]),
    (Body(CSV, "text/csv"), "csv", [ProxyAddress("9.9.9.9", 1080, SOCKS5)]),
])
async def test_lists_are_fetched_detected_and_parsed(
        registry: ParserRegistry, body: Body, expected_parser: str,
        expected: list[ProxyAddress]) -> None:
    async with ListServer({"/list": body}) as server:
        response = await fetch(server.url("/list"))
    assert response.status_code == 200
    assert response.headers["content-type"] == body.content_type
    assert parse(registry, response) == (expected_parser, expected)


async def test_a_big_generated_list_streams_in_chunks(registry: ParserRegistry) -> None:
    generated = GeneratedList(200_000, protocol=SOCKS5, with_scheme=True)
    async with ListServer({"/big.txt": generated}) as server, httpx.AsyncClient(
            timeout=TIMEOUT) as client, client.stream("GET", server.url("/big.txt")) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = [chunk async for chunk in response.aiter_raw()]
    content = b"".join(chunks).decode()
    assert len(chunks) > 1
    name, parsed = parse(registry, httpx.Response(200, text=content))
    assert name == "plaintext"
    assert len(parsed) == 200_000
    assert len(set(parsed)) == 200_000
    assert parsed[0] == generated.address_at(0)
    assert parsed[-1] == generated.address_at(199_999)


async def test_generated_bare_lines_take_the_default_protocol(registry: ParserRegistry) -> None:
    async with ListServer({"/l": GeneratedList(3)}) as server:
        response = await fetch(server.url("/l"))
    assert response.text == "10.0.0.0:1024\n10.0.0.1:1025\n10.0.0.2:1026\n"
    assert parse(registry, response, SOCKS5)[1][0] == ProxyAddress("10.0.0.0", 1024, SOCKS5)


async def test_a_server_error_is_an_http_error() -> None:
    async with ListServer({"/list": Failing(503)}) as server:
        response = await fetch(server.url("/list"))
    assert response.status_code == 503
    with pytest.raises(httpx.HTTPStatusError):
        response.raise_for_status()


async def test_a_slow_list_times_the_client_out_and_the_server_still_stops_at_once() -> None:
    async with ListServer({"/slow": Slow(30.0, Body(PLAIN))}) as server:
        with pytest.raises(httpx.ReadTimeout):
            await fetch(server.url("/slow"), limits=httpx.Timeout(0.3))
        started = time.monotonic()
    assert time.monotonic() - started < 2.0


async def test_a_slow_list_within_the_timeout_arrives() -> None:
    async with ListServer({"/slow": Slow(0.1, Body(PLAIN))}) as server:
        response = await fetch(server.url("/slow"))
    assert response.text == PLAIN


async def test_a_connection_cut_mid_body_is_a_protocol_error() -> None:
    async with ListServer({"/cut": CutOff(PLAIN * 100, sent_bytes=50)}) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(server.url("/cut"))


async def test_garbage_bytes_are_detected_as_nothing(registry: ParserRegistry) -> None:
    async with ListServer({"/bin": Garbage(64 * 1024, seed=7)}) as server:
        response = await fetch(server.url("/bin"))
    assert response.headers["content-type"] == "application/octet-stream"
    assert len(response.content) == 64 * 1024
    assert registry.detect(response.content.decode("latin-1"), None) is None


async def test_redirects_are_followed(registry: ParserRegistry) -> None:
    routes: dict[str, Behaviour] = {
        "/old": Redirect("/moved"), "/moved": Redirect("/list.txt", 301), "/list.txt": Body(PLAIN)}
    async with ListServer(routes) as server:
        response = await fetch(server.url("/old?page=1"))
    assert [r.status_code for r in response.history] == [302, 301]
    assert str(response.url) == server.url("/list.txt")
    assert parse(registry, response)[0] == "plaintext"
    assert server.hits == {"/old": 1, "/moved": 1, "/list.txt": 1}


async def test_unknown_paths_are_not_found_and_routes_can_be_added() -> None:
    async with ListServer() as server:
        assert (await fetch(server.url("/later"))).status_code == 404
        server.route("/later", Body(PLAIN))
        assert (await fetch(server.url("/later"))).text == PLAIN


async def test_a_junk_request_does_not_stop_the_server() -> None:
    async with ListServer({"/list": Body(PLAIN)}) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5.0) == b""
        writer.close()
        assert (await fetch(server.url("/list"))).text == PLAIN


async def test_many_clients_at_once() -> None:
    async with ListServer({"/list": GeneratedList(1000)}) as server, httpx.AsyncClient(
            timeout=TIMEOUT) as client:
        responses = await asyncio.gather(*(client.get(server.url("/list")) for _ in range(50)))
    assert {len(r.text.splitlines()) for r in responses} == {1000}
    assert server.hits["/list"] == 50
