"""proxyfleet as a user runs it: real processes, real ports, real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    """A server environment on the test database, with the secret the test's keys use."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYFLEET_")}
    env |= {"PROXYFLEET_DATA_DIR": str(data_dir), "PROXYFLEET_LOG_LEVEL": "warning",
            "PROXYFLEET_DATABASE_URL": database_url, "PROXYFLEET_SECRET_KEY": TEST_SECRET,
            # Tests seed made-up proxies; a server checking them would mark them dead.
            "PROXYFLEET_CHECKING_ENABLED": "false",
            # Servers side by side (and other runs on the machine): a free gateway port each.
            "PROXYFLEET_GATEWAY_PORT": "0"}
    if redis_url:
        env["PROXYFLEET_REDIS_URL"] = redis_url
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxyfleet", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def running_server(data_dir: Path, database_url: str, redis_url: str | None,
                   env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """`proxyfleet serve` as a child process on a free port; yields its base URL."""
    with serving(data_dir, database_url, redis_url, env_extra) as (base, _):
        yield base


@contextmanager
def serving(data_dir: Path, database_url: str, redis_url: str | None,
            env_extra: dict[str, str] | None = None,
            *serve_args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`proxyfleet serve [serve_args]` on a free port; yields its base URL and process."""
    port = _free_port()
    env = server_env(data_dir, database_url, redis_url) | {"PROXYFLEET_PORT": str(port)}
    env |= env_extra or {}
    process = subprocess.Popen([sys.executable, "-m", "proxyfleet", "serve", *serve_args],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base, process
    finally:
        process.terminate()
        # A bound, not a measure: a stopping `serve` flushes counters, closes its clients and
        # leaves the task stream; on a loaded machine with PostgreSQL and Redis that took
        # longer than 20 s once.
        process.wait(timeout=60)


def _spawned_children(pid: int) -> list[int]:
    """Processes `pid` started through multiprocessing's spawn (uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
def server(tmp_path: Path, database_url: str, redis_url: str | None,
           container: object) -> Iterator[tuple[str, dict[str, str]]]:
    with running_server(tmp_path / "data", database_url, redis_url) as base:
        yield base, server_env(tmp_path / "data", database_url, redis_url)


def _wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    # A guard against a server that never comes up, not a timing: on a loaded two-core
    # machine `serve --workers 2` took 40 s to start.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"serve exited early:\n{output}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not come up within 120 s")


def test_serve_answers_over_http(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/health").json()["status"] == "healthy"
        registered = http.post("/auth/register", json={"email": "proc@example.com"})
        assert registered.status_code == 201
        key = registered.json()["api_key"]["key"]
        account = http.get("/account", headers={"Authorization": f"Bearer {key}"})
        assert account.status_code == 200
        assert account.json()["email"] == "proc@example.com"
        assert http.get("/account").status_code == 401


def test_admin_create_prints_a_key_that_works(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    created = _cli("admin", "create", "boss@example.com", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("pp_")
    account = httpx.get(f"{base}/account", headers={"Authorization": f"Bearer {key}"})
    assert account.json()["role"] == "admin"
    again = _cli("admin", "create", "boss@example.com", env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_db_upgrade_is_idempotent(tmp_path: Path, database_url: str, redis_url: str | None,
                                  container: object) -> None:
    env = server_env(tmp_path / "data", database_url, redis_url)
    for _ in range(2):
        result = _cli("db", "upgrade", env=env)
        assert result.returncode == 0, result.stderr
        assert "latest revision" in result.stderr


def test_serve_runs_workers_that_share_one_port(tmp_path: Path, database_url: str,
                                                redis_url: str | None,
                                                container: object) -> None:
    with serving(tmp_path / "data", database_url, redis_url, None,
                 "--workers", "2") as (base, process):
        assert len(_spawned_children(process.pid)) == 2
        with httpx.Client(base_url=base, timeout=10) as http:
            registered = http.post("/auth/register", json={"email": "workers@example.com"})
            assert registered.status_code == 201
            key = registered.json()["api_key"]["key"]
        for _ in range(10):  # new connections, spread over the workers by the kernel
            account = httpx.get(f"{base}/account", headers={"Authorization": f"Bearer {key}"})
            assert account.status_code == 200


def test_serve_refuses_workers_with_ipv6_instances(tmp_path: Path, database_url: str,
                                                   redis_url: str | None) -> None:
    env = server_env(tmp_path / "data", database_url, redis_url) | {
        "PROXYFLEET_IPV6_PREFIXES": '{"lo": "2001:db8:1:2::/64"}'}
    refused = _cli("serve", "--workers", "2", env=env)
    assert refused.returncode == 2
    assert "workers must be 1" in refused.stderr
