"""Queries on alerts, the alert planner's cursor, and what alerts are judged by (jobs,
their checklists and photos).

An alert is written with ``ON CONFLICT (dedup_key) DO NOTHING`` (a unique index, on both
engines): two instances deciding the same alert write one row, and only the one that wrote
it hears so (:func:`insert_alerts` returns the ids it wrote).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.engine import current_engine
from server.db.tables import Alert, AlertPlanCursor, ChecklistItem, Job, Photo

CURSOR_ROW = 1


def _skip_locked(query: Any, table: Any) -> Any:
    if current_engine().engine_type == "postgres":
        return query.lock_rows("UPDATE", skip_locked=True, of=(table,))
    return query


async def plan_cursor() -> int | None:
    row = await AlertPlanCursor.select().where(AlertPlanCursor.id == CURSOR_ROW).first().run()
    return int(row["last_change_id"]) if row is not None else None


async def ensure_plan_cursor(newest_change_id: int) -> None:
    """Within a write transaction: the cursor, made at the newest change if missing (the
    history before the first planner raises nothing)."""
    await (
        AlertPlanCursor.insert(AlertPlanCursor(id=CURSOR_ROW, last_change_id=newest_change_id))
        .on_conflict(action="DO NOTHING")
        .run()
    )


async def lock_plan_cursor() -> int | None:
    """Within a write transaction: the cursor, locked; None when another instance holds it
    (it is planning right now)."""
    query = AlertPlanCursor.select().where(AlertPlanCursor.id == CURSOR_ROW)
    row = await _skip_locked(query, AlertPlanCursor).first().run()
    return int(row["last_change_id"]) if row is not None else None


async def move_plan_cursor(change_id: int) -> None:
    await (
        AlertPlanCursor.update({AlertPlanCursor.last_change_id: change_id})
        .where(AlertPlanCursor.id == CURSOR_ROW)
        .run()
    )


async def insert_alerts(rows: list[dict[str, Any]]) -> set[str]:
    """Within a write transaction: the ids of those of ``rows`` that were new (a row whose
    ``dedup_key`` is taken is dropped)."""
    if not rows:
        return set()
    written = (
        await Alert.insert(*[Alert(**row) for row in rows])
        .on_conflict(target=Alert.dedup_key, action="DO NOTHING")
        .returning(Alert.id)
        .run()
    )
    return {str(row["id"]) for row in written}


async def known_keys(keys: list[str]) -> set[str]:
    """Which of ``keys`` an alert was already raised under."""
    if not keys:
        return set()
    rows = await Alert.select(Alert.dedup_key).where(Alert.dedup_key.is_in(keys)).run()
    return {str(row["dedup_key"]) for row in rows}


async def list_alerts(branch_id: str | None, open_only: bool, limit: int) -> list[dict[str, Any]]:
    """The newest first, of one branch (None: every branch)."""
    query = Alert.select()
    if branch_id is not None:
        query = query.where(Alert.branch_id == branch_id)
    if open_only:
        query = query.where(Alert.acknowledged_at.is_null())
    rows: list[dict[str, Any]] = (
        await query.order_by(Alert.raised_at, ascending=False)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
    return rows


async def get_alert(alert_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Alert.select().where(Alert.id == alert_id).first().output(load_json=True).run()
    )
    return row


async def acknowledge(alert_id: str, user_id: str, now: datetime) -> None:
    """The first acknowledgement is kept: a second one changes nothing."""
    await (
        Alert.update({Alert.acknowledged_at: now, Alert.acknowledged_by: user_id})
        .where((Alert.id == alert_id) & Alert.acknowledged_at.is_null())
        .run()
    )


async def late_start_candidates(
    earliest: datetime, latest: datetime, after: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Live jobs still ``assigned`` (nobody set out) scheduled after ``earliest`` and by
    ``latest``, in (scheduled_at, id) order after ``after``."""
    query = Job.select(
        Job.id,
        Job.branch,
        Job.priority,
        Job.scheduled_at,
        Job.assignee,
        Job.crew,
        Job.customer.name.as_alias("customer_name"),
    ).where(
        (Job.status == "assigned")
        & Job.deleted_at.is_null()
        & (Job.scheduled_at > earliest)
        & (Job.scheduled_at <= latest)
    )
    if after is not None:
        at, job_id = after
        query = query.where(
            (Job.scheduled_at > at) | ((Job.scheduled_at == at) & (Job.id > job_id))
        )
    rows: list[dict[str, Any]] = await query.order_by(Job.scheduled_at, Job.id).limit(limit).run()
    return rows


async def jobs_by_id(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What a push about a job's alert names: its customer and time."""
    if not job_ids:
        return {}
    rows = (
        await Job.select(Job.id, Job.scheduled_at, Job.customer.name.as_alias("customer_name"))
        .where(Job.id.is_in(job_ids))
        .run()
    )
    return {str(row["id"]): row for row in rows}


async def checklists_of(job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not job_ids:
        return {}
    rows = (
        await ChecklistItem.select(
            ChecklistItem.job, ChecklistItem.label, ChecklistItem.done, ChecklistItem.done_at
        )
        .where(ChecklistItem.job.is_in(job_ids))
        .order_by(ChecklistItem.position)
        .run()
    )
    return _by_job(rows)


async def photos_of(job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not job_ids:
        return {}
    rows = (
        await Photo.select(Photo.job, Photo.kind, Photo.status, Photo.created_at)
        .where(Photo.job.is_in(job_ids))
        .run()
    )
    return _by_job(rows)


def _by_job(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["job"]), []).append(row)
    return grouped
