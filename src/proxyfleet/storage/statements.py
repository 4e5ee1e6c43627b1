"""Statement helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, update


def bulk_update(row: type[Any]) -> Update:
    """An UPDATE that skips the ORM's in-session synchronisation: repositories never keep the
    rows they update loaded, so evaluating the WHERE clause in Python is pure overhead."""
    return update(row).execution_options(synchronize_session=False)
