"""Seed 000's request and response bodies, field for field (plus `protocol`, `shared` and
`hourly_budget`, which the seed's model lacks and proxyfleet adds)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from proxyfleet.core.manager import ManagedProxy
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.core.rotation import Pick, RotationSettings, Strategy
from proxyfleet.core.sessions import AccountSession

BUDGET = ("Requests per clock hour the rotation hands this proxy out for, overriding the "
          "rotation setting's `hourly_budget`; null: the setting applies.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProxyStatusWord(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class ProxyCreate(Strict):
    ip: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    username: str | None = Field(None, min_length=1, max_length=255)
    password: str | None = Field(None, max_length=255)
    session: str = Field(min_length=1, max_length=16_384)
    protocol: ProxyProtocol = ProxyProtocol.HTTP
    shared: bool = Field(False, description="Also hand it out to leases and the gateway.")
    hourly_budget: int | None = Field(None, ge=1, description=BUDGET)


class StatusChange(Strict):
    status: ProxyStatusWord | None = None
    shared: bool | None = None


class ProxyChange(Strict):
    is_active: bool | None = None
    shared: bool | None = None
    hourly_budget: int | None = Field(None, ge=1, description=BUDGET)


class Report(Strict):
    success: bool


class SessionOut(BaseModel):
    id: int
    session: str
    status: str

    @classmethod
    def of(cls, session: AccountSession) -> SessionOut:
        return cls(id=session.id, session=session.session, status=session.status.value)


class ProxyOut(BaseModel):
    id: int
    ip: str
    port: int
    username: str | None
    password: str | None
    is_active: bool
    total_requests: int
    failed_requests: int
    requests_this_hour: int
    error_count: int
    created_at: datetime
    updated_at: datetime
    protocol: ProxyProtocol
    shared: bool
    hourly_budget: int | None = Field(description=BUDGET)

    @classmethod
    def fields_of(cls, proxy: ManagedProxy) -> dict[str, object]:
        address = proxy.address
        return {"id": proxy.number, "ip": address.host, "port": address.port,
                "username": address.username, "password": address.password,
                "is_active": proxy.is_active, "total_requests": proxy.total_requests,
                "failed_requests": proxy.failed_requests,
                "requests_this_hour": proxy.requests_this_hour,
                "error_count": proxy.error_count, "created_at": proxy.created_at,
                "updated_at": proxy.updated_at, "protocol": address.protocol,
                "shared": proxy.shared, "hourly_budget": proxy.hourly_budget}

    @classmethod
    def of(cls, proxy: ManagedProxy) -> ProxyOut:
        return cls.model_validate(cls.fields_of(proxy))


class ProxyWithSessionsOut(ProxyOut):
    sessions: list[SessionOut]

    @classmethod
    def of(cls, proxy: ManagedProxy) -> ProxyWithSessionsOut:
        return cls.model_validate(cls.fields_of(proxy) | {
            "sessions": [SessionOut.of(s) for s in proxy.sessions]})


class NextOut(ProxyOut):
    """`GET /api/proxies/next`: the proxy to use, its credentials, and why it was chosen."""

    proxy_id: uuid.UUID = Field(description="The same proxy's id on the pool API.")
    score: float
    strategy: Strategy

    @classmethod
    def of_pick(cls, pick: Pick, proxy: ManagedProxy, strategy: Strategy) -> NextOut:
        return cls.model_validate(cls.fields_of(proxy) | {
            "password": pick.password, "proxy_id": pick.proxy_id,
            "score": round(pick.score, 4), "strategy": strategy})


class RotationOut(BaseModel):
    health_window: int
    hourly_budget: int | None
    error_threshold: int
    cooloff_seconds: float
    strategy: Strategy

    @classmethod
    def of(cls, settings: RotationSettings) -> RotationOut:
        return cls(health_window=settings.health_window, hourly_budget=settings.hourly_budget,
                   error_threshold=settings.error_threshold,
                   cooloff_seconds=settings.cooloff_seconds, strategy=settings.strategy)


class RotationIn(Strict):
    """Fields left out keep their stored value; `hourly_budget: null` removes the budget."""

    health_window: int | None = Field(None, ge=1, le=64)
    hourly_budget: int | None = Field(None, ge=1)
    error_threshold: int | None = Field(None, ge=1, le=1000)
    cooloff_seconds: float | None = Field(None, ge=0, le=86_400 * 7)
    strategy: Strategy | None = None
