"""Seed 000: the proxy manager API (`/api/proxies`)."""
