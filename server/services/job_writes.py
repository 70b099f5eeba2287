"""Writing jobs: every write bumps the job's version and appends to the change log in the
same transaction, so feeds, sync cursors and live updates all see it or none do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from server.db.engine import write_transaction
from server.db.queries import jobs as job_queries
from server.errors import JobNotFound
from server.services.changes import job_change_row, record_changes


async def create_jobs(
    customers: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    checklist_items: list[dict[str, Any]],
    actor_id: str | None = None,
) -> int:
    """Insert customers, jobs and their checklists at once; returns the newest change id."""
    async with write_transaction():
        if customers:
            await job_queries.insert_customers(customers)
        await job_queries.insert_jobs(jobs)
        if checklist_items:
            await job_queries.insert_checklist_items(checklist_items)
        rows = [job_change_row("job.created", job, actor_id=actor_id) for job in jobs]
        return await record_changes(rows)


async def update_job(
    job_id: str, values: dict[str, Any], kind: str, actor_id: str | None = None
) -> dict[str, Any]:
    """Change a job's stored fields (column name -> value) and log it as ``kind``."""
    async with write_transaction():
        before = await job_queries.job_scope(job_id)
        if before is None:
            raise JobNotFound()
        after = await job_queries.update_job(job_id, {**values, "updated_at": datetime.now(UTC)})
        assert after is not None
        previous = before["assignee"] if before["assignee"] != after["assignee"] else None
        await record_changes(
            [
                job_change_row(
                    kind,
                    after,
                    previous_assignee_id=previous,
                    actor_id=actor_id,
                    payload={k: _plain(v) for k, v in values.items()},
                )
            ]
        )
        return after


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, UUID) else value
