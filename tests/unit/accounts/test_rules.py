from datetime import UTC, datetime, timedelta

import pytest

from proxyfleet.accounts.rules import (
    KEY_TOUCH_INTERVAL,
    normalise_email,
    require_positive,
    should_touch,
)
from proxyfleet.core.errors import InvalidInput


def test_emails_compare_case_insensitively() -> None:
    assert normalise_email("  Alice@Example.COM ") == "alice@example.com"


def test_last_used_is_refreshed_at_most_once_per_interval() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert should_touch(None, now)
    assert not should_touch(now - KEY_TOUCH_INTERVAL + timedelta(seconds=1), now)
    assert should_touch(now - KEY_TOUCH_INTERVAL, now)


@pytest.mark.parametrize("amount", [0, -1, -100])
def test_amounts_must_be_positive(amount: int) -> None:
    with pytest.raises(InvalidInput):
        require_positive(amount)
