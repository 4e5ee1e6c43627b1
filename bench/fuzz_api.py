"""Fuzz the API with schemathesis, as a careful operator would: every operation of the
OpenAPI spec, with an admin key and with a user key, against a real `proxyfleet serve` on
loopback, checking for 5xx answers and answers the spec does not describe.

    .venv/bin/python -m bench.fuzz_api [--backend sqlite|postgresql] [--max-examples 30]

Prints, per key, the operations and cases run and the failures found (schemathesis's own
summary follows each run); exits non-zero when any run failed. A 5xx is a failure unless it
is a 502 the route documents (a third party failing: bench/schemathesis.toml).

The server fetches URLs the fuzz makes up (a new source is scraped at once), so the bench
runs itself again in a network namespace of its own where only loopback exists (`unshare
--net`, as root); PostgreSQL's Unix socket is bridged to 127.0.0.1:5432 inside it (socat).
PostgreSQL is the server at 127.0.0.1:5432, in a database made for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import fresh_database

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance,unsupported_method")
SECRET = "fuzz-secret-not-for-production"
# Which 5xx answers are a third party's failure rather than ours (502 only).
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(data_dir: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYFLEET_")}
    return env | {"PROXYFLEET_DATA_DIR": data_dir, "PROXYFLEET_DATABASE_URL": database_url,
                  "PROXYFLEET_SECRET_KEY": SECRET, "PROXYFLEET_LOG_LEVEL": "error",
                  "PROXYFLEET_CHECKING_ENABLED": "false",
                  "PROXYFLEET_REACH_FETCHES_PER_MINUTE": "100000",
                  "PROXYFLEET_REACH_CONCURRENT_TESTS": "100"}


def _binary(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer at {url}")


def _keys(base: str, env: dict[str, str]) -> dict[str, str]:
    made = subprocess.run([_binary("proxyfleet"), "admin", "create", "fuzz-admin@example.com"],
                          env=env, capture_output=True, text=True, check=True)
    admin = made.stdout.strip().splitlines()[-1]
    user = httpx.post(f"{base}/auth/register", json={"email": "fuzz-user@example.com"}).json()
    key = user["api_key"]["key"]
    httpx.post(f"{base}/admin/users/{user['user']['id']}/grants",
               headers={"Authorization": f"Bearer {admin}"},
               json={"currency": "credits", "amount": 1000}).raise_for_status()
    httpx.post(f"{base}/proxies", headers={"Authorization": f"Bearer {admin}"}, json={
        "proxies": [{"ip": f"127.0.0.{i}", "port": 9, "protocol": "http"} for i in range(2, 6)]},
    ).raise_for_status()
    return {"admin": admin, "user": key}


def _fuzz(base: str, who: str, key: str, max_examples: int) -> bool:
    command = [_binary("st"), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
               "--checks", CHECKS,
               "--max-examples", str(max_examples), "-H", f"Authorization: Bearer {key}",
               "--seed", "13", "--request-timeout", "30", "--no-color"]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    print(run.stdout[-4000:] if run.returncode == 0 else run.stdout)
    summary = re.findall(r"(\d+) passed|(\d+) failed|(\d+) errors?", run.stdout)
    print(f"{who}: schemathesis exit {run.returncode} in {seconds:.0f} s; {summary}")
    return run.returncode == 0


ISOLATED = "PROXYFLEET_FUZZ_ISOLATED"
PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"
# Inside the namespace: loopback up, PostgreSQL's socket on 127.0.0.1:5432, then the bench.
_INSIDE = ('ip link set lo up || exit 1; bridge=; '
           'if [ -S "$PG_SOCKET" ]; then socat TCP-LISTEN:5432,bind=127.0.0.1,fork,reuseaddr '
           'UNIX-CONNECT:"$PG_SOCKET" & bridge=$!; sleep 0.3; fi; '
           '"$@"; status=$?; [ -n "$bridge" ] && kill "$bridge" && wait "$bridge"; exit $status')


def _isolated() -> None:
    """Run this bench again in a network namespace of its own, and exit with its status."""
    if os.environ.get(ISOLATED):
        return
    missing = [tool for tool in ("unshare", "ip", "socat") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        sys.exit("bench.fuzz_api runs as root with unshare, ip and socat (missing: "
                 f"{', '.join(missing) or 'root'}): the server fetches the URLs it is given, "
                 "and nothing may leave the machine")
    argv = [sys.executable, "-m", "bench.fuzz_api", *sys.argv[1:]]
    done = subprocess.run(["unshare", "--net", "sh", "-c", _INSIDE, "sh", *argv],
                          env=os.environ | {ISOLATED: "1", "PG_SOCKET": PG_SOCKET})
    sys.exit(done.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=30)
    options = parser.parse_args()
    _isolated()
    sys.exit(0 if asyncio.run(_run(options.backend, options.max_examples)) else 1)


async def _run(backend: str, max_examples: int) -> bool:
    async with fresh_database(backend) as database_url:
        with tempfile.TemporaryDirectory() as data_dir:
            return await asyncio.to_thread(_serve_and_fuzz, data_dir, database_url,
                                           max_examples)


def _serve_and_fuzz(data_dir: str, database_url: str, max_examples: int) -> bool:
    env = _environment(data_dir, database_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([_binary("proxyfleet"), "serve", "--port", str(port)], env=env)
    try:
        _wait_for(f"{base}/health")
        keys = _keys(base, env)
        results = [_fuzz(base, who, key, max_examples) for who, key in keys.items()]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return all(results)


if __name__ == "__main__":
    main()
