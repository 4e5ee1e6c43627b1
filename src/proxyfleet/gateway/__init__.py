"""The asyncio proxy engine: listeners for HTTP, SOCKS5 and SOCKS4 that drive the sans-IO
codecs of `proxyfleet.wire`, dial out through a pluggable dialer and relay bytes.

May import `proxyfleet.wire`, `proxyfleet.core` and the standard library only.
"""
