"""Storage rows. Mapped classes here are never handed above storage: repositories map them
to `core` entities."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from proxyfleet.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)


class BalanceRow(Base):
    """The running balance per user and currency, kept beside the ledger in one transaction."""

    __tablename__ = "balances"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    # Bumped by every movement; the ledger entry of that movement takes it as its `seq`.
    version: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("amount >= 0", name="not_negative"),)


class LedgerEntryRow(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    tx_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_ledger_entries_user_currency_seq", "user_id", "currency", "seq"),
    )


# Sentinels keep the sort columns of `proxies` NOT NULL, so one plain (column, id) index
# serves keyset pagination on both backends; repositories map them back to None.
NO_LATENCY_MS = 1e9
NO_UPTIME_PCT = -1.0
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class SourceRow(Base):
    __tablename__ = "sources"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    parser_name: Mapped[str] = mapped_column(String(64))
    cron_schedule: Mapped[str] = mapped_column(String(120))
    default_protocol: Mapped[str] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_scraped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The latest cron slot a scheduled scrape started for: a re-delivered task for a slot
    # already started does nothing.
    last_run_slot: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Set when the source paused itself after failing too many runs in a row (notify);
    # cleared when an admin turns it on again.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_sources_active_next_run", "is_active", "next_run_at"),
                      Index("ux_sources_url", "url", unique=True))


class ProxyRow(Base):
    """The one inventory table every feature shares."""

    __tablename__ = "proxies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(8))
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Sealed (storage/sealing.py): a Fernet token, about 420 characters for 255 bytes.
    password: Mapped[str | None] = mapped_column(String(512), nullable=True)
    origin: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    anonymity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exit_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    avg_latency_ms: Mapped[float] = mapped_column(Float)
    uptime_pct: Mapped[float] = mapped_column(Float)
    # Every check round since the proxy was first seen, and the alive ones: the counters
    # that outlast the bounded check history and the health window.
    checks_total: Mapped[int] = mapped_column(Integer)
    checks_passed: Mapped[int] = mapped_column(Integer)
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    # Outcomes of the latest rounds, newest last ('1' alive, '0' not): the health window.
    health_window: Mapped[str] = mapped_column(String(64), server_default="")
    last_alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Seed 000 (the manager): an integer id of its own, given when the proxy first shows on
    # that surface; the pool surface keeps the UUID.
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Private proxies (an account farm's own) are handed out only to their sessions and by
    # the rotation service to admins; shared ones go to leases and the gateway too.
    shared: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Disabled by an admin: out of every hand-out, whatever its health.
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Real-traffic counters (gateway, reachability tests, sessions, reports).
    total_requests: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    failed_requests: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    requests_this_hour: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The clock hour (hours since the epoch, UTC) requests_this_hour counts.
    requests_hour: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Consecutive failures; zero after a success.
    error_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Set when error_count reaches the threshold: out of rotation until then, then one
    # probation request.
    cooling_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Overrides the rotation settings' hourly budget for this proxy.
    hourly_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("host", "port", "protocol", name="uq_proxies_endpoint"),
        Index("uq_proxies_number", "number", unique=True),
        Index("ix_proxies_score_id", "score", "id"),
        Index("ix_proxies_latency_id", "avg_latency_ms", "id"),
        Index("ix_proxies_uptime_id", "uptime_pct", "id"),
        Index("ix_proxies_last_checked_id", "last_checked_at", "id"),
        Index("ix_proxies_status_score_id", "status", "score", "id"),
        Index("ix_proxies_next_check_at", "next_check_at"),
        Index("ix_proxies_country", "country"),
        Index("ix_proxies_source_id", "source_id"),
    )


class ProxyCheckRow(Base):
    """Bounded check history: a window per proxy; every round is also counted in the
    proxy's `checks_total` / `checks_passed`, which outlast it."""

    __tablename__ = "proxy_checks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    proxy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proxies.id", ondelete="CASCADE"))
    checker_name: Mapped[str] = mapped_column(String(64))
    stage: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_proxy_checks_proxy_id_id", "proxy_id", "id"),)


class LeaseRow(Base):
    """An exclusive lease. A live lease has `released_at` NULL; the partial unique index
    lets each proxy have at most one, whatever the number of API processes."""

    __tablename__ = "leases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    proxy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proxies.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The client's Idempotency-Key for the acquire that made this lease, and the balance
    # that acquire left, so a retry under the key is answered as the first was.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    balance_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("uq_leases_idempotency_key", "user_id", "idempotency_key", unique=True,
              sqlite_where=text("idempotency_key IS NOT NULL"),
              postgresql_where=text("idempotency_key IS NOT NULL")),
        Index("uq_leases_live_proxy", "proxy_id", unique=True,
              sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
        Index("ix_leases_user_live", "user_id", "released_at", "expires_at"),
        Index("ix_leases_live_expiry", "expires_at",
              sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
    )


class InstanceRow(Base):
    """A local IPv6 egress instance (seed 004). A live instance has `deleted_at` NULL."""

    __tablename__ = "ipv6_instances"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    interface: Mapped[str] = mapped_column(String(64))
    ipv6_address: Mapped[str] = mapped_column(String(64))
    http_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    socks5_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_ipv6_instances_live", "deleted_at", "expires_at"),)


class Ipv6AddressRow(Base):
    """Every IPv6 address ever handed to an instance, so none is handed out twice."""

    __tablename__ = "ipv6_addresses"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(64))
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_ipv6_addresses_prefix", "prefix"),)


# ---------------------------------------------------------------- notify: the event outbox


class EventRow(Base):
    """The outbox: one row per event, inserted in the transaction of the change behind it.
    `fanned_out_at` is set once a delivery row per subscribed notifier exists."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_events_unfanned", "occurred_at",
              sqlite_where=text("fanned_out_at IS NULL"),
              postgresql_where=text("fanned_out_at IS NULL")),
    )


class NotifierRow(Base):
    """A configured notifier: its plugin, plain options, sealed secrets, subscriptions and
    health (healthy: the last delivery succeeded, or none was tried)."""

    __tablename__ = "notifiers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plugin: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The plugin's secret fields as one JSON object, sealed with the SecretBox.
    secrets: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    subscribes_to: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    healthy: Mapped[bool] = mapped_column(Boolean)
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeliveryRow(Base):
    """One event for one notifier. A process claims it (`claim_token`, `claimed_until`),
    sends, and records the outcome only if its claim still holds; a claim that outlives a
    killed process lapses and another process takes the delivery over (at least once)."""

    __tablename__ = "event_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    notifier_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifiers.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("event_id", "notifier_id", name="uq_event_deliveries_pair"),
        Index("ix_event_deliveries_due", "state", "next_attempt_at"),
        Index("ix_event_deliveries_notifier", "notifier_id"),
    )


class PoolWatchRow(Base):
    """Whether a watched pool is low now: the hysteresis state `proxy.pool_low` and
    `proxy.pool_recovered` flip, once each, by a conditional update."""

    __tablename__ = "pool_watches"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_low: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- the reseller shop (seed 002) and its Telegram bot ---------------------------------------

_SERIAL = BigInteger().with_variant(Integer, "sqlite")


class ShopProviderRow(Base):
    """An upstream provider the shop buys from: its sealed token and its sync schedule. The
    conditional update of `next_sync_at` is how one process claims each scheduled sync."""

    __tablename__ = "shop_providers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(2000))
    token: Mapped[str] = mapped_column(String(2000))  # sealed
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ShopProductRow(Base):
    """The shop's own catalogue, never part of the shared pool: no credentials live here.
    `id` is the public `product_id`; products are matched by the provider's own id."""

    __tablename__ = "shop_products"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    upstream_product_id: Mapped[int] = mapped_column(BigInteger)
    proxy_id: Mapped[int] = mapped_column(BigInteger)
    ip: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(8))
    city: Mapped[str] = mapped_column(String(100))
    isp: Mapped[str] = mapped_column(String(200))
    speed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mobile: Mapped[bool] = mapped_column(Boolean)
    hosting: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("provider", "upstream_product_id", name="uq_shop_products_upstream"),
        Index("ix_shop_products_country_code", "country_code", "id"),
    )


class ShopOrderRow(Base):
    """A purchase. `id` is the order number (`ORD-<id>`). The unique product makes a product
    sold at most once; the unique (user, Idempotency-Key) makes a retried purchase find the
    first one. A pending order holds the buyer's money while the provider is asked."""

    __tablename__ = "shop_orders"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("shop_products.id"), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider: Mapped[str] = mapped_column(String(64))
    proxy_id: Mapped[int] = mapped_column(BigInteger)
    country: Mapped[str] = mapped_column(String(100))
    isp: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    credentials_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    login: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # sealed
    password: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # sealed
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The bought proxy's row in the one inventory, which the checker checks.
    inventory_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("proxies.id", ondelete="SET NULL"), nullable=True)

    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_shop_orders_idempotency"),
        Index("ix_shop_orders_user_id", "user_id", "id"),
        Index("ix_shop_orders_inventory_id", "inventory_id"),
    )


class ShopRefundRow(Base):
    """A refund: its primary key is the order, so an order is refunded at most once whatever
    races it. `evidence` keeps what the provider and our own checks said."""

    __tablename__ = "shop_refunds"

    order_id: Mapped[int] = mapped_column(ForeignKey("shop_orders.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TelegramLinkRow(Base):
    """A Telegram user linked to an account (one each way)."""

    __tablename__ = "telegram_links"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               unique=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TelegramBotKeyRow(Base):
    """A key an admin issued to a Telegram bot: it may log in the Telegram users linked to
    accounts, nothing else. Stored as a keyed hash, like API keys."""

    __tablename__ = "telegram_bot_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- seed 000's manager: account sessions, rotation settings, integer ids -----------------


class GatewayUsageRow(Base):
    """What one user has sent and received through the rotating gateway, ever."""

    __tablename__ = "gateway_usage"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    bytes_up: Mapped[int] = mapped_column(BigInteger)
    bytes_down: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GatewayBanRow(Base):
    """A proxy kept away from one target domain until `banned_until` (a ban rule matched)."""

    __tablename__ = "gateway_bans"

    proxy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proxies.id", ondelete="CASCADE"),
                                                primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    banned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    banned_until: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_gateway_bans_banned_until", "banned_until"),)
class AccountSessionRow(Base):
    """One account session for the whole platform (seed 000's sessions, seed 003's Instagram
    sessions): a cookie bound to one proxy. The cookie is sealed; its digest is unique."""

    __tablename__ = "account_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proxy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proxies.id", ondelete="CASCADE"))
    session: Mapped[str] = mapped_column(Text)
    session_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Seed 003 (migration 0009): an Instagram session names its account, keeps the account's
    # cookies (one sealed JSON object) and user agent, expires, and has a state (active,
    # challenge, invalidated). NULL on sessions made on the manager's surface alone.
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cookies: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        Index("uq_account_sessions_username", "username", unique=True),
        Index("ix_account_sessions_expires_at", "expires_at"),
        Index("uq_account_sessions_digest", "session_digest", unique=True),
        Index("ix_account_sessions_proxy_id", "proxy_id"),
        Index("ix_account_sessions_owner_id", "owner_id"),
    )


class RotationSettingsRow(Base):
    """The rotation settings every process reads: one row, id 1."""

    __tablename__ = "rotation_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    health_window: Mapped[int] = mapped_column(Integer)
    hourly_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_threshold: Mapped[int] = mapped_column(Integer)
    cooloff_seconds: Mapped[float] = mapped_column(Float)
    strategy: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdSequenceRow(Base):
    """Counters that hand out integer ids never given before (seed 000's proxy ids): one
    conditional UPDATE … RETURNING per id, atomic on both backends."""

    __tablename__ = "id_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


# --- Instagram (seed 003) ------------------------------------------------------------------


class InstagramAccountRow(Base):
    """An Instagram account's quota state, kept apart from its sessions so that no new
    session (and no cleanup of expired ones) resets its limits or lifts its cool-offs.
    Its row is also what serialises one account's quota decisions (locked FOR UPDATE)."""

    __tablename__ = "instagram_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    follow_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    like_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    follow_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    like_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    writes_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InstagramActionRow(Base):
    """One action of an account: `pending` from its reservation until Instagram answers,
    then `done` or `refused`. Pending and done actions count in the rolling windows;
    `dedupe` (the target of a like or follow) makes doing it twice impossible."""

    __tablename__ = "instagram_actions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("instagram_accounts.username", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(255))
    dedupe: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    refusal: Mapped[str | None] = mapped_column(String(32), nullable=True)
    proxy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_instagram_actions_window", "username", "action", "at"),
        Index("uq_instagram_actions_dedupe", "username", "action", "dedupe", unique=True),
        Index("ix_instagram_actions_proxy_at", "proxy_id", "at"),
    )


class InstagramSuspectRow(Base):
    """A proxy through which several accounts were blocked within a short window: disabled
    for sessions (they move off it), kept for the other surfaces."""

    __tablename__ = "instagram_suspect_proxies"

    proxy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proxies.id", ondelete="CASCADE"), primary_key=True)
    blocked_accounts: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
