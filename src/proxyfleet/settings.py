"""Every setting, one typed tree, read once from the environment (prefix `PROXYFLEET_`)."""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from proxyfleet.gateway.egress import EgressMode, parse_prefix


class PoolWatch(BaseModel):
    """A watched pool: active proxies matching the filter, low under `low`, recovered at
    `recover` or more."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    low: int = Field(ge=1)
    recover: int = Field(ge=1)
    protocol: str | None = Field(None, pattern=r"^(http|https|socks4|socks5)$")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    anonymity: str | None = Field(None, pattern=r"^(transparent|anonymous|elite)$")

    @model_validator(mode="after")
    def _recover_above_low(self) -> PoolWatch:
        if self.recover <= self.low:
            raise ValueError("recover must be above low (hysteresis)")
        return self


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`; anything else (a name, 0.0.0.0) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    # --- the reseller shop (seed 002) and its Telegram bot ---
    shop_upstream_provider: str = Field(
        "socks-api", description="Name of the UpstreamProvider plugin the shop buys from.")
    shop_upstream_url: str = Field(
        "http://127.0.0.1:8090/api/v1/authorized", description="Base URL of the upstream "
        "provider's API (point it at `proxyfleet sim upstream` for demos and tests).")
    shop_upstream_token: SecretStr = Field(
        SecretStr(""), description="The shop's API token at the upstream provider; stored "
        "sealed, never logged.")
    shop_upstream_timeout_seconds: float = Field(
        30.0, gt=0, description="Time limit of one request to the upstream provider.")
    shop_price: Decimal = Field(
        Decimal("2.00"), gt=0, max_digits=10, decimal_places=2,
        description="Fixed price of any shop product, in USD (charged in cents).")
    shop_sync_interval_minutes: float = Field(
        5.0, gt=0, description="How often the catalogue is synced with the upstream "
        "provider (one run per interval however many processes serve).")
    shop_sync_page_size: int = Field(
        100, ge=1, le=1000, description="Products asked per page during a sync.")
    shop_refund_window_minutes: float = Field(
        60.0, gt=0, description="How long after a purchase an offline proxy may be refunded.")
    shop_order_days: float = Field(
        30.0, gt=0, description="How long a bought proxy is the buyer's (its expires_at), "
        "unless the provider says otherwise.")
    shop_own_check_timeout_seconds: float = Field(
        10.0, gt=0, description="Time limit of each of proxyfleet's own checks of a bought "
        "proxy that a refund asks for.")
    telegram_bot_token: SecretStr = Field(
        SecretStr(""), description="The Telegram bot's token from @BotFather (`proxyfleet bot`).")
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="Telegram Bot API server the bot and the "
        "telegram notifier talk to; point it at `proxyfleet sim telegram` for demos and tests.")
    telegram_platform_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of the proxyfleet API the bot is a "
        "client of.")
    telegram_platform_key: SecretStr = Field(
        SecretStr(""), description="The bot's own key (`proxyfleet admin bot-key`), with "
        "which it logs Telegram users in.")

    # Hardening (issue 13): bounds on what one user can make the pool do.
    reach_fetches_per_minute: int = Field(
        100, ge=1, description="POST /proxies/test: proxy fetches one user may start a minute "
        "(a test of count N is N fetches; refilled evenly; shared through Redis when it is "
        "configured, else per process). At least 50 "
        "lets the largest test run.")
    database_pool_size: int = Field(
        20, ge=1, le=1000, description="PostgreSQL: connections one process may hold at once. "
        "Every API, serve and worker process has its own pool: keep processes x this below "
        "the server's max_connections (100 by default), with room for admin sessions.")
    database_pool_kept: int = Field(
        5, ge=1, le=1000, description="PostgreSQL: connections a process keeps open when idle; "
        "the rest of a burst's are closed as they are given back.")
    reach_concurrent_tests: int = Field(
        2, ge=1, description="POST /proxies/test: tests one user may have running at once "
        "(shared through Redis when it is configured, else per process).")
    # -- notify: events, notifiers, source health, /metrics --------------------------------
    notify_enabled: bool = Field(
        True, description="Deliver events to the notifiers inside `serve` (any number of "
                          "processes may; each delivery is claimed by one).")
    notify_poll_seconds: float = Field(
        1.0, gt=0, description="How often the outbox is looked at for events to deliver.")
    notify_batch_size: int = Field(50, ge=1, le=1000,
                                   description="Deliveries one process claims at a time.")
    notify_claim_seconds: float = Field(
        60.0, gt=0, description="How long a claimed delivery is this process's alone; after "
        "a crash it is sent again once this has passed. Keep it above every notifier's "
        "timeout.")
    notify_retry_first_seconds: float = Field(
        10.0, gt=0, description="Wait before the first retry of a failed delivery; doubles.")
    notify_retry_max_seconds: float = Field(3600.0, gt=0,
                                            description="Longest wait between retries.")
    notify_max_attempts: int = Field(
        12, ge=1, description="Attempts per delivery before it is given up (state failed).")
    notify_keep_days: float = Field(
        7.0, gt=0, description="How long an event stays in the outbox once every delivery "
                               "of it is done (delivered or given up).")
    source_failure_limit: int = Field(
        5, ge=1, description="Scrapes in a row a source may fail before it pauses itself "
                             "(is_active false) and `source.disabled` is sent.")
    credits_low_threshold: int = Field(
        10, ge=0, description="`credits.low` is sent when a user's credits drop under this "
                              "(0: never); `credits.exhausted` when they reach 0.")
    pool_watches: list[PoolWatch] = Field(
        default_factory=lambda: [PoolWatch(name="all", low=10, recover=20)],
        description='Watched pools, as JSON: [{"name": "us-socks5", "low": 5, "recover": 10, '
        '"protocol": "socks5", "country": "US"}]. `proxy.pool_low` is sent when the active '
        "proxies matching one drop under `low`, `proxy.pool_recovered` when they are back "
        "at `recover` or more.")
    pool_watch_seconds: float = Field(30.0, gt=0,
                                      description="How often watched pools are counted.")
    metrics_token: SecretStr | None = Field(
        None, description="A bearer token for GET /metrics besides an admin API key; unset, "
                          "only admin keys may read it.")

    # --- the first hour of a new user (issue 12) ---
    ipv6_api_keyless_loopback: bool = Field(
        False, description="Let calls to seed 004's /api/* routes that carry no API key, from "
        "a loopback address, act as an admin: seed 004's own clients send no key (its API "
        "bound to 127.0.0.1). Off by default; a call that does send a key is checked as ever.")
    # -- the rotation service (seed 000's manager, the gateway, account sessions) --
    rotation_refresh_seconds: float = Field(
        2.0, gt=0, description="How often each process reloads the proxies the rotation may "
        "hand out and its settings (changes made through this process apply at once). A "
        "reload waits at least 20 times as long as the last one took, so a large pool's "
        "reloads take at most about 5 % of the process' time.")
    rotation_flush_seconds: float = Field(
        0.5, gt=0, description="How often each process stores the request counters it has "
        "gathered (in one batch of increment UPDATEs).")

    # --- the rotating gateway (one HTTP + SOCKS5 port in front of the pool) ----------------
    gateway_enabled: bool = Field(
        True, description="Run the rotating gateway inside `proxyfleet serve`.")
    gateway_host: str = Field(
        "127.0.0.1", description="Address the gateway listens on. On any other than loopback "
        "it refuses to start unless gateway_require_credentials is on.")
    gateway_port: int = Field(8899, ge=0, le=65535, description="Port of the gateway.")
    gateway_require_credentials: bool = Field(
        True, description="Clients log in with any name (carrying options) and an API key as "
        "the password. Off is allowed on loopback only: anonymous clients, default options.")
    gateway_failover_attempts: int = Field(
        3, ge=1, le=20, description="Pool proxies tried for one connection when connecting "
        "or the handshake fails, while nothing has reached the client yet.")
    gateway_upstream_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Time one pool proxy has to connect and open a tunnel.")
    gateway_idle_timeout_seconds: float = Field(
        300.0, gt=0, description="A connection that moves nothing this long is closed.")
    gateway_max_connections: int = Field(
        10000, ge=1, description="Client connections the gateway serves at once.")
    gateway_user_max_connections: int = Field(
        256, ge=0, description="Connections one user may hold open at once (0: no cap); "
        "past it, 429 (HTTP) or SOCKS5 'not allowed'. Shared by every gateway through Redis "
        "when it is configured, else per process.")
    gateway_user_requests_per_minute: int = Field(
        6000, ge=0, description="Requests (tunnels, and plain HTTP requests) one user may "
        "start per minute, refilled evenly (0: no cap); past it, 429 or SOCKS5 'not "
        "allowed'. Shared like the connection cap.")
    gateway_ban_statuses: list[int] = Field(
        default_factory=lambda: [403, 429], description="HTTP statuses from a target (plain "
        "HTTP forwarding) that ban the proxy used for that target's domain, as JSON: [403, 429].")
    gateway_ban_seconds: float = Field(
        600.0, gt=0, description="How long a ban keeps a proxy away from that domain.")
    gateway_exit_header: bool = Field(
        False, description="Add `X-Proxyfleet-Exit: <proxy id>` to plain HTTP responses.")
    gateway_flush_seconds: float = Field(
        2.0, gt=0, le=60, description="How often the gateway writes usage and bans to the "
        "database (in batches: the hot path never waits on it).")
    gateway_ipv6_interface: str | None = Field(
        None, description="Which of ipv6_prefixes `-exit-ipv6` takes fresh addresses from "
        "(default: the first).")
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
    def shop_price_cents(self) -> int:
        return int(self.shop_price * 100)

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
    def _pool_keeps_at_most_its_size(self) -> Settings:
        if self.database_pool_kept > self.database_pool_size:
            raise ValueError("database_pool_kept must not exceed database_pool_size")
        return self

    @model_validator(mode="after")
    def _one_process_for_instances(self) -> Settings:
        if self.workers > 1 and self.ipv6_prefixes:
            raise ValueError("workers must be 1 when ipv6_prefixes are set: IPv6 egress "
                             "instances are listeners inside one process")
        return self

    @model_validator(mode="after")
    def _no_open_gateway(self) -> Settings:
        if not self.gateway_require_credentials and not is_loopback(self.gateway_host):
            raise ValueError("the gateway requires credentials on any address other than "
                             "loopback (gateway_require_credentials)")
        if self.gateway_ipv6_interface not in (None, *self.ipv6_prefixes):
            raise ValueError("gateway_ipv6_interface must name one of ipv6_prefixes")
        return self

    @field_validator("ipv6_prefixes")
    @classmethod
    def _prefixes_are_ipv6(cls, value: dict[str, str]) -> dict[str, str]:
        return {interface: str(parse_prefix(prefix)) for interface, prefix in value.items()}
