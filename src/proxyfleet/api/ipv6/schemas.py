"""Request and response bodies of the 004 surface, with the seed's field names (times are
seconds since the epoch, as the seed's `time.time()` gave them)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from proxyfleet.api.request_models import NumbersNotBooleans
from proxyfleet.storage.instances import InstanceType

DEFAULT_TEMP_TTL_SECONDS = 3600


class CreateIn(NumbersNotBooleans):
    model_config = ConfigDict(extra="ignore")

    type: InstanceType = Field(InstanceType.SOCKS5, description="http, socks5 or both.")
    interface: str | None = Field(
        None, description="Required: an interface with a configured IPv6 prefix.")


class CreateTempIn(CreateIn):
    ttl: int = Field(DEFAULT_TEMP_TTL_SECONDS, gt=0,
                     description="Seconds the instance lives; then it is removed.")
    interface: str | None = Field(
        None, description="Optional when exactly one interface has a prefix configured.")


class BulkDeleteIn(BaseModel):
    instance_ids: list[uuid.UUID] = Field(default_factory=list)
    delete_all: bool = False


class StatsOut(BaseModel):
    connections: int
    bytes_sent: int
    bytes_received: int
    last_activity_ts: float | None
    uptime: float

    @model_serializer(mode="wrap")
    def _always_last_activity(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # null until the first connection, and present then too: the routes drop absent
        # optional fields (response_model_exclude_none), this one is part of every stats.
        shown: dict[str, Any] = handler(self)
        shown.setdefault("last_activity_ts", self.last_activity_ts)
        return shown


class Endpoints(BaseModel):
    http: str | None = None
    socks5: str | None = None


class InstanceOut(BaseModel):
    instance_id: str
    ipv6_address: str
    interface: str
    type: InstanceType
    created_at: float
    proxy_endpoint: str | None = Field(None, description="For http and socks5 instances.")
    endpoints: Endpoints | None = Field(None, description="For both: one per protocol.")
    expires_at: float | None = Field(None, description="Temp instances only.")
    ttl: int | None = None
    status: str = Field(description="running, or stopped when it could not be restored.")


class InstanceDetailOut(InstanceOut):
    stats: StatsOut


class ListOut(BaseModel):
    proxies: list[InstanceDetailOut]
    total: int


class DeleteOut(BaseModel):
    message: str
    instance_id: str


class BulkDeleteOut(BaseModel):
    message: str
    deleted_count: int
    deleted: list[str]


class CleanupOut(BaseModel):
    message: str
    cleaned_instances: list[str]
    cleaned_count: int


class InterfaceOut(BaseModel):
    name: str
    prefix: str | None
    proxies: int


class TotalsOut(BaseModel):
    total_proxies: int
    running_proxies: int
    total_connections: int
    total_bytes_sent: int
    total_bytes_received: int
    mode: str
    interfaces: list[InterfaceOut]


class HealthOut(BaseModel):
    status: str
