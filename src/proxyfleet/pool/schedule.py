"""Cron schedules of sources: validation and the next run. Imports only core and croniter."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from proxyfleet.core.errors import InvalidInput


def validate_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise InvalidInput("cron_schedule must be a 5-field cron expression.",
                           {"cron_schedule": expression})
    return expression


def next_run(expression: str, after: datetime) -> datetime:
    try:
        upcoming = croniter(expression, after.astimezone(UTC)).get_next(datetime)
    except (CroniterBadCronError, CroniterBadDateError):
        raise InvalidInput("cron_schedule has no next run.",
                           {"cron_schedule": expression}) from None
    assert isinstance(upcoming, datetime)
    return upcoming.astimezone(UTC)
