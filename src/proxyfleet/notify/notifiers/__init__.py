"""Notifier plugins: `webhook`, `smtp` and `telegram` register themselves on import; the
registry finds outside ones through the `proxyfleet.notifiers` entry point group."""

from proxyfleet.notify.notifiers import smtp, telegram, webhook
from proxyfleet.notify.notifiers.base import (
    DeliveryFailed,
    Notifier,
    NotifierConfig,
    NotifierEnvironment,
    NotifierKind,
    NotifierPlugin,
)
from proxyfleet.notify.notifiers.registry import (
    ENTRY_POINT_GROUP,
    NotifierRegistry,
    UnknownNotifier,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "DeliveryFailed",
    "Notifier",
    "NotifierConfig",
    "NotifierEnvironment",
    "NotifierKind",
    "NotifierPlugin",
    "NotifierRegistry",
    "UnknownNotifier",
    "smtp",
    "telegram",
    "webhook",
]
