"""A tiny HTTP server for the target namespace: answers every GET with the peer's address.

Run as `python3 peer_server.py ADDRESS PORT` (inside `ip netns exec …`); prints `ready` once
listening. Standard library only: it runs outside the project's virtualenv's concerns.
"""

from __future__ import annotations

import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PeerHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class Ipv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def main() -> None:
    server = Ipv6Server((sys.argv[1], int(sys.argv[2])), PeerHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
