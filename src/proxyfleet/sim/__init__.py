"""A simulated world on loopback: servers that behave like the outside things proxyfleet talks
to (proxy lists, proxies, judges, …), for tests, demos and benchmarks.

May import `core`; nothing in `src/` outside `sim/` imports it.
"""
