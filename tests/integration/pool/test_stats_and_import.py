"""GET /stats/pool, GET /stats/plugins, and `proxyfleet import FILE`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from proxyfleet.bootstrap import Container
from proxyfleet.core.proxies import ProxyProtocol
from tests.conftest import Member
from tests.integration.pool.seeding import addresses, seed
from tests.integration.test_process import server_env


async def test_pool_stats_count_what_is_there(client: httpx.AsyncClient, container: Container,
                                              admin: Member, member: Member) -> None:
    await seed(container, addresses(3), status="active", score=0.6, anonymity="elite",
               avg_latency_ms=100.0)
    await seed(container, addresses(2, protocol=ProxyProtocol.SOCKS5, net=11), status="dead",
               score=0.0, avg_latency_ms=300.0)
    await seed(container, addresses(1, net=12))
    await client.post("/sources", headers=admin.headers,
                      json={"url": "http://127.0.0.1:9/x", "parser_name": "plaintext"})

    stats = (await client.get("/stats/pool", headers=member.headers)).json()

    assert stats["total_proxies"] == 6
    assert stats["by_status"] == {"active": 3, "dead": 2, "unchecked": 1}
    assert stats["by_protocol"] == {"http": 4, "https": 0, "socks4": 0, "socks5": 2}
    assert stats["by_anonymity"] == {"transparent": 0, "anonymous": 0, "elite": 3}
    assert abs(stats["avg_score"] - 0.36) < 1e-9
    assert abs(stats["avg_latency_ms"] - 180.0) < 1e-9
    assert (stats["sources_active"], stats["sources_total"]) == (1, 1)
    assert stats["last_scrape_at"] is None
    assert stats["last_validation_at"].endswith("Z")


async def test_plugin_stats_list_the_parsers(client: httpx.AsyncClient, member: Member) -> None:
    plugins = (await client.get("/stats/plugins", headers=member.headers)).json()
    assert {"name": "plaintext", "type": "SourceParser"} in plugins["parsers"]
    assert {p["name"] for p in plugins["parsers"]} >= {"plaintext", "json", "csv"}


async def test_import_cli_adds_then_refreshes(client: httpx.AsyncClient, container: Container,
                                              member: Member, tmp_path: Path,
                                              database_url: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# mine\n10.7.0.1:1080\nhttp://10.7.0.2:8080\njunk\n"
                       "10.7.0.3:1080:bob:pw\n[2001:db8::7]:1080\n")
    env = server_env(tmp_path / "data", database_url, None)
    command = [sys.executable, "-m", "proxyfleet", "import", str(listing), "--protocol", "socks5"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert first.returncode == 0, first.stderr
    assert "discovered 4, new 4, updated 0" in first.stderr
    assert "4/4" in first.stderr  # the bar counts proxies, not the file's lines
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert "discovered 4, new 0, updated 4" in again.stderr

    items = (await client.get("/proxies", headers=member.headers)).json()["items"]
    assert sorted((p["ip"], p["protocol"]) for p in items) == [
        ("10.7.0.1", "socks5"), ("10.7.0.2", "http"), ("10.7.0.3", "socks5"),
        ("2001:db8::7", "socks5")]
    missing = subprocess.run([*command[:4], str(tmp_path / "nope.txt")], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode != 0
