"""The pool API surface (seed 001): accounts, and later sources, proxies, leases and stats."""
