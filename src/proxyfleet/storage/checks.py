"""Repository for check rounds: claiming due proxies, recording outcomes, bounding history.
Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proxyfleet.core.proxies import Anonymity, CheckSubject, ProxyStatus, RoundRecord
from proxyfleet.storage.claiming import claimable
from proxyfleet.storage.proxies import PROXIES, address_of
from proxyfleet.storage.sealing import SecretBox
from proxyfleet.storage.tables import NO_LATENCY_MS, ProxyCheckRow, ProxyRow

CHECKS = cast(Table, ProxyCheckRow.__table__)


def _subject(row: ProxyRow, box: SecretBox) -> CheckSubject:
    return CheckSubject(
        id=row.id, address=address_of(row, box), status=ProxyStatus(row.status),
        health_window=row.health_window or "",
        avg_latency_ms=None if row.avg_latency_ms >= NO_LATENCY_MS else row.avg_latency_ms,
        consecutive_failures=row.consecutive_failures, last_alive_at=row.last_alive_at,
        anonymity=Anonymity(row.anonymity) if row.anonymity else None,
        exit_ip=row.exit_ip, country=row.country, first_seen_at=row.first_seen_at)


def _changes(record: RoundRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "health_window": record.health_window, "uptime_pct": record.uptime_pct,
        "avg_latency_ms": NO_LATENCY_MS if record.avg_latency_ms is None
        else record.avg_latency_ms,
        "consecutive_failures": record.consecutive_failures,
        "last_alive_at": record.last_alive_at, "score": record.score,
        "next_check_at": record.next_check_at, "last_checked_at": record.checked_at,
        "anonymity": record.anonymity.value if record.anonymity else None,
        "exit_ip": record.exit_ip, "country": record.country,
    }


class ChecksRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self._session = session
        self._box = box

    async def claim_due(self, now: datetime, hold_until: datetime, limit: int) -> list[uuid.UUID]:
        """Take up to `limit` proxies whose check is due, pushing their next check to
        `hold_until` so no other round takes them meanwhile. On PostgreSQL concurrent
        claimers skip each other's rows instead of waiting."""
        due = (select(ProxyRow.id).where(ProxyRow.next_check_at <= now)
               .order_by(ProxyRow.next_check_at).limit(limit))
        postgresql = self._session.get_bind().dialect.name == "postgresql"
        claimed = await self._session.execute(
            update(PROXIES).where(PROXIES.c.id.in_(claimable(due, postgresql)))
            .values(next_check_at=hold_until).returning(PROXIES.c.id))
        return [proxy_id for (proxy_id,) in claimed]

    async def subjects(self, ids: Sequence[uuid.UUID],
                       claim: datetime | None = None) -> list[CheckSubject]:
        """The proxies to check; with `claim`, only those the claim still holds (a task run
        twice, or after its round was stored, finds nothing left to check)."""
        query = select(ProxyRow).where(ProxyRow.id.in_(ids))
        if claim is not None:
            query = query.where(ProxyRow.next_check_at == claim)
        rows = await self._session.scalars(query)
        return [_subject(row, self._box) for row in rows]

    async def still_held(self, ids: Sequence[uuid.UUID], claim: datetime) -> set[uuid.UUID]:
        """Which of these proxies the claim still holds, locked until the transaction ends
        (PostgreSQL), so two runs of one batch cannot both record a round."""
        query = select(PROXIES.c.id).where(PROXIES.c.id.in_(ids),
                                           PROXIES.c.next_check_at == claim)
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return set((await self._session.scalars(query)).all())

    async def record(self, records: Sequence[RoundRecord], history: int) -> None:
        if not records:
            return
        connection = await self._session.connection()
        # Bound names must differ from column names in an executemany UPDATE.
        columns: dict[str, Any] = {key: bindparam(f"new_{key}") for key in _changes(records[0])}
        columns |= {"checks_total": PROXIES.c.checks_total + 1,
                    "checks_passed": PROXIES.c.checks_passed + bindparam("new_passed")}
        await connection.execute(
            update(PROXIES).where(PROXIES.c.id == bindparam("proxy_id")).values(**columns),
            [{"proxy_id": r.proxy_id, "new_passed": int(r.status is ProxyStatus.ACTIVE)}
             | {f"new_{k}": v for k, v in _changes(r).items()} for r in records])
        checks = [{"proxy_id": r.proxy_id, "checker_name": c.checker_name, "stage": c.stage,
                   "passed": c.passed, "latency_ms": c.latency_ms, "detail": c.detail[:500],
                   "created_at": c.created_at} for r in records for c in r.checks]
        if checks:
            await connection.execute(insert(CHECKS), checks)
        await self._trim(connection, [r.proxy_id for r in records], history)

    async def _trim(self, connection: Any, proxy_ids: list[uuid.UUID], history: int) -> None:
        """Keep the newest `history` check rows per proxy; the proxy's counters keep the rest."""
        newest = (select(CHECKS.c.id).where(CHECKS.c.proxy_id == bindparam("p"))
                  .order_by(CHECKS.c.id.desc()).limit(history))
        await connection.execute(
            delete(CHECKS).where(CHECKS.c.proxy_id == bindparam("p"),
                                 CHECKS.c.id.not_in(newest.scalar_subquery())),
            [{"p": proxy_id} for proxy_id in proxy_ids])

    async def forget(self, ids: Sequence[uuid.UUID]) -> int:
        if not ids:
            return 0
        result = await self._session.execute(
            delete(PROXIES).where(PROXIES.c.id.in_(ids)))
        return int(result.rowcount)  # type: ignore[attr-defined]
