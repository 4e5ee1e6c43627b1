"""proxyfleet: a self-hosted proxy platform."""

__version__ = "0.1.0"
