"""The rotating gateway: one HTTP + SOCKS5 port in front of the whole pool. Each connection
(each request, for plain HTTP forwarding) goes out through a pool proxy the rotation service
picks, with the options the username carries; outcomes feed back into the pool's health.

Imports `core`, `wire`, the engine (`gateway`), `accounts` and `pool` services, and `storage`
for its unit of work: it sits above the features, beside `jobs`.
"""
