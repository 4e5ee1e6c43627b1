"""Clients of the gateway for the tests: curl over HTTP forwarding, CONNECT and SOCKS5
(remote names), and requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import requests

TIMEOUT = 20.0
# How curl is told to use the gateway for each way in.
MODES = {
    "forward": ["-x", "http://{login}@{gateway}"],
    "connect": ["-p", "-x", "http://{login}@{gateway}"],
    "socks5": ["-x", "socks5h://{login}@{gateway}"],
    "socks4a": ["-x", "socks4a://{gateway}"],  # anonymous
    # SOCKS4 has no password field: the login travels as the user id `username:key`.
    "socks4a-login": ["-x", "socks4a://{username}%3A{key}@{gateway}"],
    "anonymous": ["-x", "http://{gateway}"],
}


@dataclass
class Answer:
    exit_code: int
    status: int
    headers: dict[str, str]
    body: str

    @property
    def peer(self) -> str:
        assert self.body.startswith("peer="), self
        return self.body.removeprefix("peer=")


def _split(raw: str) -> tuple[int, dict[str, str], str]:
    """The last response of curl's `-i` output (a CONNECT's 200 comes first)."""
    status, headers, body = 0, {}, raw
    while body.startswith("HTTP/"):
        head, _, body = body.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


async def curl(mode: str, gateway: tuple[str, int], username: str, key: str, url: str,
               *extra: str) -> Answer:
    login = f"{username}:{key}"
    args = [a.format(login=login, username=username, key=key,
                     gateway=f"{gateway[0]}:{gateway[1]}") for a in MODES[mode]]
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-i", "--max-time", str(TIMEOUT), *args, *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(TIMEOUT + 5):
        out, _ = await process.communicate()
    assert process.returncode is not None
    status, headers, body = _split(out.decode("latin-1"))
    return Answer(process.returncode, status, headers, body)


def _fetch(gateway: tuple[str, int], username: str, key: str, url: str,
           scheme: str) -> Answer:
    proxy = f"{scheme}://{username}:{key}@{gateway[0]}:{gateway[1]}"
    with requests.Session() as session:
        response = session.get(url, proxies={"http": proxy}, timeout=TIMEOUT)
    return Answer(0, response.status_code, {k.lower(): v for k, v in response.headers.items()},
                  response.text)


async def fetch(gateway: tuple[str, int], username: str, key: str, url: str,
                scheme: str = "http") -> Answer:
    """One GET with requests (a blocking client, so on a thread): `scheme` http forwards,
    socks5h tunnels."""
    return await asyncio.to_thread(_fetch, gateway, username, key, url, scheme)
