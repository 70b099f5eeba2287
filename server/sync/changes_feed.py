"""The sync change feed: what a phone missed since its cursor, as current state.

The cursor is a change-log id, the same number as a live-update event id. The feed walks the
log rows that concern the caller after the cursor and answers each job once, as it is now;
jobs that left the caller's view (reassigned away, deleted) are listed in ``removed``. Pages
end at a log row, so ``cursor`` can resume exactly there.

The log may be compacted (``python -m server compact-changes``): below its horizon only each
job's newest change is kept, which still serves a full download from 0, but a cursor older
than the horizon may have missed a removal, so its answer is ``reset: true``: reload from 0.

On PostgreSQL appends to the log are serialised until commit, so once the newest id is read
every smaller id is visible: reading the head first and the rows up to it never skips one.
"""

from __future__ import annotations

from typing import Any

from server.changes import queries as change_queries
from server.core.access import Principal
from server.errors import InvalidCursor
from server.jobs import queries as job_queries
from server.jobs.service import job_state, may_see, visible_scope

SCAN = 500


async def require_known_cursor(since: int, mirrored_head: int) -> None:
    """A cursor ahead of the log was never given out: 400. The worker's mirror answers
    without a query unless the cursor is newer than what it has read."""
    if since > mirrored_head and since > await change_queries.newest_change_id():
        raise InvalidCursor("since is ahead of the change log; reload with since=0.")


async def changes_since(principal: Principal, since: int, limit: int) -> dict[str, Any]:
    """Up to ``limit`` jobs changed after ``since``: ``{changes, removed, cursor, hasMore}``."""
    head = await change_queries.newest_change_id()
    job_ids, cursor, has_more = await _changed_jobs(principal, since, head, limit)
    # After the scan: a compaction that committed during it is seen here, so a cursor it
    # passed never gets a page with a removal missing.
    if 0 < since < await change_queries.compacted_through():
        return {"changes": [], "removed": [], "cursor": 0, "hasMore": False, "reset": True}
    jobs = {str(job["id"]): job for job in await job_queries.get_jobs(job_ids)}
    visible = [jobs[j] for j in job_ids if j in jobs and may_see(principal, jobs[j])]
    checklists = await job_queries.checklists_by_job([str(job["id"]) for job in visible])
    shown = {str(job["id"]) for job in visible}
    return {
        "changes": [job_state(job, checklists.get(str(job["id"]), [])) for job in visible],
        "removed": [] if since == 0 else [j for j in job_ids if j not in shown],
        "cursor": cursor,
        "hasMore": has_more,
        "reset": False,
    }


async def _changed_jobs(
    principal: Principal, since: int, head: int, limit: int
) -> tuple[list[str], int, bool]:
    """Distinct job ids in log order after ``since``; stops before the ``limit + 1``-th job."""
    scope = visible_scope(principal)
    user_id, branch_id = scope.assignee_id, scope.branch_id
    seen: dict[str, None] = {}
    cursor = since
    while True:
        rows = await change_queries.job_changes_seen_by(
            cursor, head, SCAN, user_id=user_id, branch_id=branch_id
        )
        for row in rows:
            job_id = str(row["job_id"])
            if job_id not in seen and len(seen) == limit:
                return list(seen), cursor, True
            seen[job_id] = None
            cursor = int(row["id"])
        if len(rows) < SCAN:
            return list(seen), head, False
