"""Writing jobs: every write bumps the job's version and appends to the change log in the
same transaction, so feeds, sync cursors and live updates all see it or none do.

Inside one transaction a service locks the jobs it will touch (:func:`lock_jobs`), applies
each change with :func:`change_job` (which returns the change's log row) and records all the
rows at once with :func:`record_changes`, so the change-log lock is held only at the end.
Each log row's payload says what changed (``version``, ``fields``, ``items``) and the row
says who changed it (``actor_id``, ``device_id``): offline sync reads that history to tell a
stale edit of an untouched field from a real conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from server.db.engine import write_transaction
from server.db.queries import jobs as job_queries
from server.errors import JobNotFound
from server.services.changes import job_change_row, record_changes


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a user on one device session (both None for the system)."""

    user_id: str | None = None
    device_id: str | None = None


SYSTEM = Actor()


async def create_jobs(
    customers: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    checklist_items: list[dict[str, Any]],
    actor: Actor = SYSTEM,
) -> int:
    """Insert customers, jobs and their checklists at once; returns the newest change id."""
    async with write_transaction():
        if customers:
            await job_queries.insert_customers(customers)
        await job_queries.insert_jobs(jobs)
        if checklist_items:
            await job_queries.insert_checklist_items(checklist_items)
        rows = [
            job_change_row(
                "job.created",
                job,
                actor_id=actor.user_id,
                device_id=actor.device_id,
                payload={"version": 1},
            )
            for job in jobs
        ]
        return max(await record_changes(rows))


async def lock_jobs(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Within a write transaction: the live jobs among ``job_ids`` by id, locked to commit."""
    return {str(job["id"]): job for job in await job_queries.lock_jobs(job_ids)}


async def change_job(
    job: dict[str, Any],
    values: dict[str, Any],
    kind: str,
    actor: Actor,
    *,
    items: dict[str, bool] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Within a write transaction, on a job from :func:`lock_jobs`: store ``values`` (column ->
    value) and checklist ``items`` (item id -> done), bump the version, bring ``job`` up to
    date in place, and return the change-log row to pass to :func:`record_changes`."""
    now = now or datetime.now(UTC)
    moved_from = job["assignee"] if _assignee_changes(job, values) else None
    after = await job_queries.update_job(str(job["id"]), {**values, "updated_at": now})
    if after is None:
        raise JobNotFound()
    if items:
        await job_queries.set_checklist_items(str(job["id"]), items, now)
    job.update(values, version=after["version"], updated_at=now)
    payload: dict[str, Any] = {
        "version": after["version"],
        "fields": {column: _plain(value) for column, value in values.items()},
    }
    if items:
        payload["items"] = items
    return job_change_row(
        kind,
        job,
        previous_assignee_id=_plain(moved_from),
        actor_id=actor.user_id,
        device_id=actor.device_id,
        payload=payload,
    )


async def update_job(
    job_id: str, values: dict[str, Any], kind: str, actor: Actor = SYSTEM
) -> dict[str, Any]:
    """Change one job's stored fields (column name -> value) in its own transaction."""
    async with write_transaction():
        job = (await lock_jobs([job_id])).get(job_id)
        if job is None:
            raise JobNotFound()
        await record_changes([await change_job(job, values, kind, actor)])
        return job


def _assignee_changes(job: dict[str, Any], values: dict[str, Any]) -> bool:
    return "assignee" in values and _plain(values["assignee"]) != _plain(job["assignee"])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, UUID) else value
