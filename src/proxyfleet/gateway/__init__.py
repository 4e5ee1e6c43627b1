"""The asyncio proxy engine: listeners for HTTP, SOCKS5 and SOCKS4 that drive the sans-IO
codecs of `proxyfleet.wire`, dial out through a pluggable dialer and relay bytes.

The engine modules import `proxyfleet.wire`, `proxyfleet.core` and the standard library only;
`instances.py` (the use cases of local IPv6 instances, seed 004) also imports `storage`.
"""
