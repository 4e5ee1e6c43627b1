"""Every setting, one typed tree, read once from the environment (prefix `PROXYFLEET_`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from proxyfleet.gateway.egress import EgressMode, parse_prefix


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "proxyfleet"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROXYFLEET_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the API listens on.")
    workers: int = Field(
        1, ge=1, le=32, description="API processes `proxyfleet serve` runs on the one port "
        "(one per core is plenty). Each also runs the schedulers and sweeps, which are safe "
        "side by side. Not with IPv6 prefixes: egress instances live inside one process.")
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
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list, description="Earlier secret keys, as a JSON list: secrets sealed "
        "under them still open, new ones are sealed under secret_key (key rotation).")
    registration_open: bool = Field(True, description="Allow POST /auth/register.")
    auth_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="How long a process reuses an API key it has verified "
        "before asking the database again (0: every request asks). A key revoked through "
        "this process fails at once; other processes sharing the database refuse it within "
        "this time.")
    signup_credits: int = Field(0, ge=0, description="Credits a new account starts with.")
    scheduler_enabled: bool = Field(
        True, description="Run the source schedule and sweeps inside `proxyfleet serve`.")
    scheduler_tick_seconds: float = Field(
        5.0, gt=0, description="How often due sources and expired leases are looked for.")
    source_fetch_timeout_seconds: float = Field(
        30.0, gt=0, description="Time limit for downloading one source list.")
    count_cache_seconds: float = Field(
        5.0, ge=0, description="How long GET /proxies reuses the total_count of a query.")
    judge_url: str | None = Field(
        None, description="URL of the judge the checkers ask through each proxy. Default: "
                          "this proxyfleet's own GET /judge.")
    checking_enabled: bool = Field(True, description="Check due proxies inside `serve`.")
    check_concurrency: int = Field(500, ge=1, le=20000, description="Checks in flight at once.")
    check_timeout_seconds: float = Field(10.0, gt=0, description="Time limit of one check.")
    check_batch_size: int = Field(500, ge=1, description="Proxies per queued check task.")
    health_window_size: int = Field(20, ge=1, le=64,
                                    description="Rounds the uptime is computed over.")
    check_history_size: int = Field(50, ge=1, description="Check records kept per proxy.")
    recheck_healthy_seconds: float = Field(600, gt=0, description="Re-check interval, alive.")
    recheck_retry_seconds: float = Field(300, gt=0,
                                         description="First retry after a failure; doubles.")
    recheck_max_backoff_seconds: float = Field(86400, gt=0, description="Longest back-off.")
    forget_dead_after_days: float = Field(7, gt=0,
                                          description="Dead this long: removed from the pool.")
    ipv6_prefixes: dict[str, str] = Field(
        default_factory=dict, description='Interface name → IPv6 prefix its egress instances '
        'take addresses from, as JSON: {"eth0": "2001:db8:1:2::/64"}.')
    ipv6_mode: EgressMode = Field(
        EgressMode.ANYIP, description="assign: add a /128 per instance to the interface; "
        "anyip: route the prefix to lo once and bind any address of it (IPV6_FREEBIND).")
    instance_port_range: str = Field(
        "20000-29999", pattern=r"^\d{1,5}-\d{1,5}$",
        description="Ports IPv6 instances listen on (127.0.0.1), as LOW-HIGH; keep it outside "
                    "the kernel's ephemeral range (32768-60999 by default).")
    instance_ttl_sweep_seconds: float = Field(
        10.0, gt=0, description="How often expired temp IPv6 instances are removed.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    # -- the rotation service (seed 000's manager, the gateway, account sessions) --
    rotation_refresh_seconds: float = Field(
        2.0, gt=0, description="How often each process reloads the proxies the rotation may "
        "hand out and its settings (changes made through this process apply at once).")
    rotation_flush_seconds: float = Field(
        0.5, gt=0, description="How often each process stores the request counters it has "
        "gathered (in one batch of increment UPDATEs).")

    # --- Instagram account sessions (seed 003) ---------------------------------------------
    instagram_base_url: str = Field(
        "https://www.instagram.com/api/v1", description="Instagram's web API. Tests and demos "
        "point it at `proxyfleet sim instagram` on loopback (http://127.0.0.1:P/api/v1).")
    instagram_follow_limit_per_day: int = Field(
        200, ge=0, description="Follows per account in any rolling 24 hours.")
    instagram_like_limit_per_day: int = Field(
        1000, ge=0, description="Likes per account in any rolling 24 hours.")
    instagram_comment_limit_per_day: int = Field(
        100, ge=0, description="Comments per account in any rolling 24 hours.")
    instagram_follow_limit_per_hour: int | None = Field(
        None, ge=0, description="Follows per account in any rolling hour (unset: no cap).")
    instagram_like_limit_per_hour: int | None = Field(
        None, ge=0, description="Likes per account in any rolling hour (unset: no cap).")
    instagram_comment_limit_per_hour: int | None = Field(
        None, ge=0, description="Comments per account in any rolling hour (unset: no cap).")
    instagram_min_gap_seconds: float = Field(
        0.0, ge=0, description="Least time between two actions of one account (0: none).")
    instagram_gap_jitter_seconds: float = Field(
        0.0, ge=0, description="Up to this much more, drawn at random per action, added to "
        "the minimum gap.")
    instagram_feedback_cooloff_hours: float = Field(
        12.0, gt=0, description="How long an action Instagram answered feedback_required "
        "stays blocked for that account.")
    instagram_please_wait_cooloff_hours: float = Field(
        1.0, gt=0, description='How long every write of an account stops after "Please '
        'wait a few minutes".')
    instagram_session_expiry_hours: float = Field(
        24.0, gt=0, description="A session expires this long after it was created "
        "(fractions allowed).")
    instagram_cleanup_seconds: float = Field(
        300.0, gt=0, description="How often expired sessions and old actions are removed.")
    instagram_timeout_seconds: float = Field(
        15.0, gt=0, description="Time limit of one request to Instagram.")
    instagram_max_attempts: int = Field(
        4, ge=1, le=10, description="Tries of one request when Instagram answers 429 or 5xx.")
    instagram_backoff_base_seconds: float = Field(
        0.5, ge=0, description="First pause before a retry; doubles per retry (jittered).")
    instagram_backoff_cap_seconds: float = Field(
        8.0, ge=0, description="Longest pause between two retries.")
    instagram_accounts_per_proxy: int = Field(
        3, ge=1, description="Most live sessions pinned to one proxy.")
    instagram_shared_proxies: bool = Field(
        False, description="Let sessions be pinned to shared pool proxies when no private "
        "(manager) proxy is free.")
    instagram_suspect_accounts: int = Field(
        2, ge=1, description="Accounts blocked through one proxy within the suspect window "
        "that make it a suspect: it is then disabled for sessions and reported.")
    instagram_suspect_window_minutes: float = Field(
        60.0, gt=0, description="The window the suspect count is taken over.")

    @property
    def effective_judge_url(self) -> str:
        if self.judge_url:
            return self.judge_url
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/judge"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'proxyfleet.db'}"

    @property
    def instance_ports(self) -> range:
        low, high = (int(part) for part in self.instance_port_range.split("-"))
        return range(low, high + 1)

    @field_validator("instance_port_range")
    @classmethod
    def _ports_in_order(cls, value: str) -> str:
        low, high = (int(part) for part in value.split("-"))
        if not 1 <= low <= high <= 65535:
            raise ValueError("expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535")
        return value

    @model_validator(mode="after")
    def _one_process_for_instances(self) -> Settings:
        if self.workers > 1 and self.ipv6_prefixes:
            raise ValueError("workers must be 1 when ipv6_prefixes are set: IPv6 egress "
                             "instances are listeners inside one process")
        return self

    @field_validator("ipv6_prefixes")
    @classmethod
    def _prefixes_are_ipv6(cls, value: dict[str, str]) -> dict[str, str]:
        return {interface: str(parse_prefix(prefix)) for interface, prefix in value.items()}
