"""Seed 002's surface: the reseller shop (`/api/external-proxy/...`) and the Telegram bot's
login (`/api/telegram/...`), in FastAPI's own error shape."""
