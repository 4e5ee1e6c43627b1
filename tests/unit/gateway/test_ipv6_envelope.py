"""The 004 surface renders errors Flask-style, and authentication the platform's way."""

from __future__ import annotations

import json

from proxyfleet.api.ipv6.envelope import IPV6
from proxyfleet.core.errors import InvalidInput
from proxyfleet.gateway.egress import AssignFailed, PrefixExhausted


def _body(status: int, code: str, message: str, details: dict[str, object]) -> object:
    return json.loads(bytes(IPV6.render(status, code, message, details).body))


def test_errors_are_a_message_under_error() -> None:
    assert _body(500, "IPV6_ASSIGN_FAILED", "Failed to assign IPv6", {}) == {
        "error": "Failed to assign IPv6", "code": "IPV6_ASSIGN_FAILED"}


def test_validation_failures_are_400_naming_the_field() -> None:
    response = IPV6.render(422, "VALIDATION_ERROR", "The request is not valid.",
                           {"fields": [{"field": "body.type", "message": "bad", "type": "x"}]})
    assert response.status_code == 400
    assert json.loads(bytes(response.body))["error"] == "type: bad"


def test_auth_failures_use_the_seeds_flat_shape_too() -> None:
    body = _body(401, "UNAUTHORIZED", "Missing API key", {})
    assert body == {"error": "Missing API key", "code": "UNAUTHORIZED"}


def test_statuses() -> None:
    assert IPV6.status_for(InvalidInput("x")) == 400
    assert IPV6.status_for(PrefixExhausted("x")) == 409
    assert IPV6.status_for(AssignFailed("x")) == 500
