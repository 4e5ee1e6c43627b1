"""The `smtp` notifier: one plain-text mail per event, through aiosmtplib.

`security`: `none` (plain, for a relay on loopback), `starttls` (upgrade after connecting,
the default) or `tls` (TLS from the first byte, usually port 465).
"""

from __future__ import annotations

import enum
from email.message import EmailMessage

import aiosmtplib
from pydantic import Field, SecretStr

from proxyfleet.core.events import Event
from proxyfleet.notify.notifiers.base import (
    DeliveryFailed,
    NotifierConfig,
    NotifierEnvironment,
    NotifierPlugin,
    event_subject,
    event_text,
)


class SmtpSecurity(enum.StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class SmtpConfig(NotifierConfig):
    host: str = Field(min_length=1, max_length=255, description="SMTP server.")
    port: int = Field(587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = Field(None, max_length=255, description="Login, if the server "
                                 "asks for one.")
    password: SecretStr | None = Field(None, max_length=500)
    from_address: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1, max_length=50)
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class SmtpNotifier(NotifierPlugin):
    name = "smtp"
    Config = SmtpConfig

    def __init__(self, config: SmtpConfig, environment: NotifierEnvironment) -> None:
        self._config = config

    def _message(self, event: Event) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._config.from_address
        message["To"] = ", ".join(self._config.to)
        message["Subject"] = event_subject(event)
        message["X-Proxyfleet-Delivery"] = str(event.id)
        message.set_content(event_text(event))
        return message

    async def send(self, event: Event) -> None:
        config = self._config
        password = config.password.get_secret_value() if config.password else None
        try:
            await aiosmtplib.send(
                self._message(event), hostname=config.host, port=config.port,
                username=config.username, password=password,
                use_tls=config.security is SmtpSecurity.TLS,
                start_tls=config.security is SmtpSecurity.STARTTLS,
                timeout=config.timeout_seconds)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
