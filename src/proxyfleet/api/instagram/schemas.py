"""Seed 003's request and response shapes. Requests carry the seed's fields (and its
`action_type`, which must name the endpoint's action when it is sent); responses are
`{"success": true, "data": {...}}`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Instagram usernames: letters, digits, periods and underscores, at most 30.
USERNAME = r"^@?[A-Za-z0-9._]{1,30}$"
# User ids and media ids: digits, or Instagram's `<media>_<owner>` form; letters are let
# through for the seed's examples ("target456", "post789").
TARGET = r"^[A-Za-z0-9._-]{1,64}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class LimitsIn(_In):
    follow: int | None = Field(None, ge=0, le=100_000)
    like: int | None = Field(None, ge=0, le=100_000)
    comment: int | None = Field(None, ge=0, le=100_000)


class SessionIn(_In):
    username: str = Field(pattern=USERNAME)
    session_id: str = Field(min_length=1, max_length=4096)
    cookies: dict[str, str] = Field(default_factory=dict, max_length=64)
    user_agent: str = Field(min_length=1, max_length=1000)
    proxy_id: int | uuid.UUID | None = Field(
        None, description="A manager proxy's integer id, or any proxy's UUID.")
    limits: LimitsIn | None = Field(None, description="Per-account daily limits.")

    @field_validator("cookies")
    @classmethod
    def _cookie_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, content in value.items():
            if not name or any(c in name for c in "=;, \t") or any(c in content for c in ";\r\n"):
                raise ValueError(f"not a cookie: {name!r}")
        return value


class _ActionIn(_In):
    username: str = Field(pattern=USERNAME)


class FollowIn(_ActionIn):
    target_user_id: str = Field(pattern=TARGET)
    action_type: Literal["follow"] | None = None


class LikeIn(_ActionIn):
    media_id: str = Field(pattern=TARGET)
    action_type: Literal["like"] | None = None


class CommentIn(_ActionIn):
    media_id: str = Field(pattern=TARGET)
    text: str = Field(min_length=1, max_length=2200)
    action_type: Literal["comment"] | None = None


class ProxyOut(BaseModel):
    id: int | None
    proxy_id: str
    ip: str
    port: int


class SessionOut(BaseModel):
    id: int
    username: str
    cookies: list[str] = Field(description="Names of the cookies kept; values never leave.")
    user_agent: str
    state: str
    created_at: str
    expires_at: str
    proxy: ProxyOut


class LimitOut(BaseModel):
    limit: int
    used: int
    remaining: int
    window_hours: int = 24
    frees_at: str | None
    blocked_until: str | None


class Envelope(BaseModel):
    success: Literal[True] = True
    data: dict[str, Any]
