"""The Telegram bot (`proxyfleet bot`): a client of the HTTP API."""
