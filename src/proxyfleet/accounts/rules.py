"""Pure account rules. Imports only `core` (and email-validator's syntax check)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from proxyfleet.core.errors import InvalidInput

# How stale `last_used_at` may get before a request refreshes it: one write per key per
# interval, not one per request.
KEY_TOUCH_INTERVAL = timedelta(minutes=5)


def normalise_email(email: str) -> str:
    """The address, trimmed and lower-cased, when it is well formed; else `InvalidInput`.
    Any domain a host could be named by is accepted, internal ones too (`ops@corp.internal`,
    `lab@office.local`): a self-hosted install often lives in such a network, and nothing is
    sent at sign-up. The one rule for the API and the CLI."""
    text = email.strip()
    local, at, domain = text.rpartition("@")
    problem = None if at else "An email address must have an @-sign."
    problem = problem or _local_part_problem(local) or _domain_problem(domain)
    if problem:
        raise InvalidInput(f"Not a valid email address: {problem}", {"fields": [
            {"field": "body.email", "message": problem, "type": "value_error"}]})
    return f"{local}@{domain}".lower()


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _local_part_problem(local: str) -> str | None:
    # email-validator judges the part before the @ (RFC 5322 dot-atoms, internationalised);
    # the domain is ours to judge, since it refuses special-use names such as `.local`.
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(f"{local}@example.com", check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def _domain_problem(domain: str) -> str | None:
    try:
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return "The part after the @-sign is not a valid domain name."
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "The part after the @-sign is not a valid domain name."
    return None


def should_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= KEY_TOUCH_INTERVAL


def require_positive(amount: int) -> int:
    if amount <= 0:
        raise InvalidInput("Amount must be a positive whole number.", {"amount": amount})
    return amount
