"""The `webhook` notifier: POSTs the event as JSON, signed with HMAC-SHA256.

Headers: `X-Proxyfleet-Event` (name), `X-Proxyfleet-Delivery` (the event id, the same on
every retry: receivers de-duplicate on it, delivery is at least once), `X-Proxyfleet-Timestamp`
(Unix seconds) and, when a secret is set, `X-Proxyfleet-Signature: sha256=<hex>` of
HMAC-SHA256(secret, timestamp + "." + body). Any 2xx answer is success.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from proxyfleet.core.events import Event
from proxyfleet.notify.notifiers.base import (
    DeliveryFailed,
    NotifierConfig,
    NotifierEnvironment,
    NotifierPlugin,
    event_document,
)

SIGNATURE_HEADER = "X-Proxyfleet-Signature"
TIMESTAMP_HEADER = "X-Proxyfleet-Timestamp"


class WebhookConfig(NotifierConfig):
    url: AnyHttpUrl = Field(description="Where events are POSTed.")
    secret: SecretStr | None = Field(None, min_length=1, max_length=500,
                                     description="HMAC-SHA256 key of the signature header.")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Time limit per POST.")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookNotifier(NotifierPlugin):
    name = "webhook"
    Config = WebhookConfig

    def __init__(self, config: WebhookConfig, environment: NotifierEnvironment) -> None:
        self._config = config
        self._http = environment.http

    async def send(self, event: Event) -> None:
        body = json.dumps(event_document(event), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Proxyfleet-Event": event.name.value,
                   "X-Proxyfleet-Delivery": str(event.id), TIMESTAMP_HEADER: timestamp}
        if self._config.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._config.secret.get_secret_value(),
                                                  timestamp, body)
        try:
            response = await self._http.post(str(self._config.url), content=body,
                                             headers=headers,
                                             timeout=self._config.timeout_seconds)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code} from the webhook")
