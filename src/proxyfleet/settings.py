"""Every setting, one typed tree, read once from the environment (prefix `PROXYFLEET_`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "proxyfleet"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROXYFLEET_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the API listens on.")
    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Where the embedded SQLite file and secret key live.")
    database_url: str | None = Field(
        None, description="sqlite:///… or postgresql://…; default: SQLite in data_dir.")
    redis_url: str | None = Field(None, description="redis://…; enables Redis when set.")
    redis_prefix: str = Field("proxyfleet:", description="Prefix of every Redis key we use.")
    secret_key: SecretStr | None = Field(
        None, description="Keys the API-key hash and encrypts secrets at rest. Default: a "
                          "random key kept in data_dir/secret.key. Set the same value in "
                          "every process that shares one database.")
    registration_open: bool = Field(True, description="Allow POST /auth/register.")
    signup_credits: int = Field(0, ge=0, description="Credits a new account starts with.")
    scheduler_enabled: bool = Field(
        True, description="Run the source schedule and sweeps inside `proxyfleet serve`.")
    scheduler_tick_seconds: float = Field(
        5.0, gt=0, description="How often due sources and expired leases are looked for.")
    source_fetch_timeout_seconds: float = Field(
        30.0, gt=0, description="Time limit for downloading one source list.")
    count_cache_seconds: float = Field(
        5.0, ge=0, description="How long GET /proxies reuses the total_count of a query.")
    log_level: str = Field("info", description="debug, info, warning or error.")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'proxyfleet.db'}"
