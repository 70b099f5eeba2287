"""The readiness probe's query, and what ``/metrics`` reads at each scrape: the work queues
(photos, pushes, webhooks), the planners' cursors over the change log and the scheduled
jobs' outcomes; and the scheduler's rows.

Each is one cheap read: the queues are counted and aged through their ``(state,
next_attempt_at)`` indexes, the cursors are single rows, the change log is read by its key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.core.schedule import RunLedger
from server.db.engine import current_engine
from server.db.tables import (
    AlertPlanCursor,
    ChangeLog,
    Photo,
    PushDelivery,
    PushPlanCursor,
    ScheduledRun,
    WebhookDelivery,
    WebhookPlanCursor,
)

QUEUED, PROCESSING = "queued", "processing"


async def ping() -> None:
    """Raises when the database does not answer."""
    await current_engine().run_ddl("SELECT 1")


async def photo_queue(now: datetime) -> tuple[int, datetime | None]:
    """Photos waiting to be processed (or being processed), and when the longest-due one
    (queued, or under a lapsed lease) became due."""
    waiting = Photo.status.is_in([QUEUED, PROCESSING])
    lapsed = (Photo.status == PROCESSING) & (Photo.lease_until < now)
    due = ((Photo.status == QUEUED) | lapsed) & (Photo.next_attempt_at <= now)
    return await _count(Photo, waiting), await _earliest(Photo, Photo.next_attempt_at, due)


async def push_queue(now: datetime) -> tuple[int, datetime | None]:
    waiting = PushDelivery.state == QUEUED
    due = waiting & (PushDelivery.next_attempt_at <= now)
    count = await _count(PushDelivery, waiting)
    return count, await _earliest(PushDelivery, PushDelivery.next_attempt_at, due)


async def webhook_queue(now: datetime) -> tuple[int, datetime | None]:
    waiting = WebhookDelivery.state == QUEUED
    due = waiting & (WebhookDelivery.next_attempt_at <= now)
    count = await _count(WebhookDelivery, waiting)
    return count, await _earliest(WebhookDelivery, WebhookDelivery.next_attempt_at, due)


async def _count(table: Any, where: Any) -> int:
    return int(await table.count().where(where).run())


async def _earliest(table: Any, column: Any, where: Any) -> datetime | None:
    row = await table.select(column).where(where).order_by(column).first().run()
    earliest: datetime | None = row[column._meta.name] if row else None
    return earliest


async def newest_change_id() -> int:
    row = await ChangeLog.select(ChangeLog.id).order_by(ChangeLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def plan_cursors() -> dict[str, int]:
    """Each planner's cursor (absent until its planner first ran)."""
    cursors = {}
    for planner, table in (
        ("alerts", AlertPlanCursor),
        ("pushes", PushPlanCursor),
        ("webhooks", WebhookPlanCursor),
    ):
        row = await table.select(table.last_change_id).first().run()
        if row is not None:
            cursors[planner] = int(row["last_change_id"])
    return cursors


async def job_change_after(change_id: int) -> bool:
    """Whether a job's change follows ``change_id`` (push planning reads only those)."""
    after = (ChangeLog.id > change_id) & ChangeLog.job_id.is_not_null()
    return bool(await ChangeLog.exists().where(after).run())


async def ensure_scheduled_run(name: str, first_run: datetime) -> None:
    """The job's row, due at its first time, unless another process made it already."""
    row = ScheduledRun(name=name, next_run_at=first_run, last_result={})
    await ScheduledRun.insert(row).on_conflict(action="DO NOTHING").run()


async def claim_scheduled_run(name: str, owner: str, now: datetime, until: datetime) -> bool:
    """One conditional UPDATE: take the lease if the job is due and nobody holds it."""
    rows = (
        await ScheduledRun.update(
            {ScheduledRun.lease_owner: owner, ScheduledRun.lease_until: until}
        )
        .where(
            (ScheduledRun.name == name)
            & (ScheduledRun.next_run_at <= now)
            & (ScheduledRun.lease_until.is_null() | (ScheduledRun.lease_until < now))
        )
        .returning(ScheduledRun.name)
        .run()
    )
    return bool(rows)


async def settle_scheduled_run(
    name: str, owner: str, now: datetime, next_run: datetime, result: dict[str, Any]
) -> None:
    """Record the run and let the lease go (only if this process still holds it): a success
    sets ``last_success_at`` and clears ``failures``, a failure adds one to them."""
    values: dict[Any, Any] = {
        ScheduledRun.last_run_at: now,
        ScheduledRun.last_result: result,
        ScheduledRun.next_run_at: next_run,
        ScheduledRun.lease_owner: None,
        ScheduledRun.lease_until: None,
    }
    if result.get("ok"):
        values |= {ScheduledRun.last_success_at: now, ScheduledRun.failures: 0}
    else:
        values[ScheduledRun.failures] = ScheduledRun.failures + 1
    await (
        ScheduledRun.update(values)
        .where((ScheduledRun.name == name) & (ScheduledRun.lease_owner == owner))
        .run()
    )


async def record_run_by_hand(
    name: str, now: datetime, first_run: datetime, result: dict[str, Any]
) -> None:
    """A command ran the job and it succeeded. A row made here is due at the job's first
    time; an existing row keeps its due time and any lease."""
    row = ScheduledRun(
        name=name,
        next_run_at=first_run,
        last_run_at=now,
        last_result=result,
        last_success_at=now,
        failures=0,
    )
    await (
        ScheduledRun.insert(row)
        .on_conflict(
            target=ScheduledRun.name,
            action="DO UPDATE",
            values=[
                ScheduledRun.last_run_at,
                ScheduledRun.last_result,
                ScheduledRun.last_success_at,
                ScheduledRun.failures,
            ],
        )
        .run()
    )


async def scheduled_runs() -> list[dict[str, Any]]:
    """Every job's row: when it ran, what it did, when it is due."""
    rows: list[dict[str, Any]] = (
        await ScheduledRun.select().order_by(ScheduledRun.name).output(load_json=True).run()
    )
    return rows


async def scheduled_run_outcomes() -> dict[str, tuple[datetime | None, int]]:
    """Each job's last success and the failures since, by name (for ``/metrics``)."""
    rows = await ScheduledRun.select(
        ScheduledRun.name, ScheduledRun.last_success_at, ScheduledRun.failures
    ).run()
    return {row["name"]: (row["last_success_at"], int(row["failures"])) for row in rows}


SCHEDULED_RUNS = RunLedger(ensure_scheduled_run, claim_scheduled_run, settle_scheduled_run)
"""The scheduler's rows, for :class:`server.core.schedule.Scheduler`."""
