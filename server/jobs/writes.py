"""Writing jobs: every write bumps the job's version and appends to the change log in the
same transaction, so feeds, sync cursors and live updates all see it or none do.

Inside one transaction a service locks the jobs it will touch (:func:`lock_jobs`), decides
each change in memory through a :class:`JobWriter`, and commits them together at the end: a
sync batch of a hundred changes costs a few statements. Writers commit side by side; their
log rows become readable once the change log's head passes them, which the writer sees to
right after its commit (server/changes/publish.py).
Each log row's payload says what changed (``version``, ``fields``, ``items``) and the row
says who changed it (``actor_id``, ``device_id``): offline sync reads that history to tell a
stale edit of an untouched field from a real conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from server.changes.service import job_change_row, record_changes
from server.db.engine import write_transaction
from server.errors import JobNotFound
from server.jobs import queries as job_queries
from server.jobs.crews import crew_of, crew_text, lead_of
from server.jobs.queries import JobFilter
from server.jobs.service import job_summary


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a user on one device session (both None for the system)."""

    user_id: str | None = None
    device_id: str | None = None


SYSTEM = Actor()
EVERY_JOB = JobFilter()


@dataclass(frozen=True, slots=True)
class ChecklistEdit:
    """The office's reshaping of a job's checklist (never its ticks): ``added`` item rows
    (``id``, ``job``, ``position``, ``label``), ``removed`` item ids, and ``moved`` items'
    new positions, each ``(item id, position)``."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.moved)


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
        for job in jobs:
            job.setdefault("crew", "" if job.get("assignee") is None else str(job["assignee"]))
        await job_queries.insert_jobs(jobs)
        await job_queries.insert_crews(jobs)
        if checklist_items:
            await job_queries.insert_checklist_items(checklist_items)
        rows = [
            job_change_row(
                "job.created",
                job,
                actor_id=actor.user_id,
                device_id=actor.device_id,
                payload={"version": 1, "crew": crew_of(job)},
            )
            for job in jobs
        ]
        return max(await record_changes(rows))


async def lock_jobs(job_ids: list[str], scope: JobFilter = EVERY_JOB) -> dict[str, dict[str, Any]]:
    """Within a write transaction: the live jobs among ``job_ids`` within ``scope``, by id,
    locked to commit."""
    return {str(job["id"]): job for job in await job_queries.lock_jobs(job_ids, scope)}


async def lock_external_jobs(external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Within a write transaction: the live jobs the CRM knows by ``external_ids``, by that
    id, locked to commit (with ``customer_external_id`` and ``assignee_external_id``)."""
    return {
        str(job["external_id"]): job
        for job in await job_queries.lock_jobs_by_external_id(external_ids)
    }


class JobWriter:
    """Changes to jobs locked in one transaction, kept in memory as they are decided and
    written by :meth:`commit`: each job's final columns once, checklist items and crews in
    one go, and the change-log rows together, whatever the number of changes.

    A change sets a crew with ``values["crew"]`` (user ids, lead first; an ``assignee`` alone
    is a crew of one): the lead becomes the ``assignee``, and the log row names everyone the
    change concerns, those who left the crew included (see server/changes/audience.py).
    """

    def __init__(self, actor: Actor, now: datetime | None = None) -> None:
        self.actor = actor
        self.now = now or datetime.now(UTC)
        self._jobs: dict[str, tuple[dict[str, Any], set[str]]] = {}
        self._items: dict[str, tuple[str, bool]] = {}
        self._crews: set[str] = set()
        self._reshaped = ChecklistEdit()
        self.rows: list[dict[str, Any]] = []

    def change(
        self,
        job: dict[str, Any],
        values: dict[str, Any],
        kind: str,
        items: dict[str, bool] | None = None,
        about: dict[str, Any] | None = None,
        checklist: ChecklistEdit | None = None,
    ) -> dict[str, Any]:
        """Apply ``values`` (column -> value), checklist ``items`` (id -> done) and a
        ``checklist`` reshaping to a job from :func:`lock_jobs`, one version up; returns the
        change's log row. ``about`` adds to the payload what else changed with the job (a
        photo, the checklist's new labels)."""
        before = crew_of(job)
        values = self._with_crew(job, values)
        job.update(values, version=job["version"] + 1, updated_at=self.now)
        after = crew_of(job)
        left = [user_id for user_id in before if user_id not in after]
        _, columns = self._jobs.setdefault(str(job["id"]), (job, set()))
        columns.update(values)
        for item_id, done in (items or {}).items():
            self._items[item_id] = (str(job["id"]), done)
        if checklist:
            self._reshaped.added.extend(checklist.added)
            self._reshaped.removed.extend(checklist.removed)
            self._reshaped.moved.extend(checklist.moved)
        payload: dict[str, Any] = {
            "version": job["version"],
            "crew": after,
            "fields": {column: _plain(value) for column, value in values.items()},
            "job": job_summary(job),  # as it is after this change: live events show it
        }
        if items:
            payload["items"] = items
        payload.update(about or {})
        if left:
            payload["left"] = left
        if after != before:
            payload["joined"] = [user_id for user_id in after if user_id not in before]
        if lead_of(after) != lead_of(before):
            payload["previousLead"] = lead_of(before)
        row = job_change_row(
            kind,
            job,
            previous_assignee_id=lead_of(before) if lead_of(before) in left else None,
            actor_id=self.actor.user_id,
            device_id=self.actor.device_id,
            payload=payload,
        )
        self.rows.append(row)
        return row

    def _with_crew(self, job: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with a crew (or a lone ``assignee``) spelt as the job's columns."""
        if "crew" in values:
            crew = [str(user_id) for user_id in values["crew"]]
        elif "assignee" in values:
            crew = [] if values["assignee"] is None else [str(values["assignee"])]
        else:
            return values
        if crew == crew_of(job):
            return {k: v for k, v in values.items() if k not in ("crew", "assignee")}
        self._crews.add(str(job["id"]))
        return {**values, "crew": crew_text(crew), "assignee": lead_of(crew)}

    async def commit(self) -> list[int]:
        """Write everything changed; returns the change ids of :attr:`rows`, in order."""
        if not self.rows:
            return []
        await job_queries.store_jobs(
            [
                ({c: job[c] for c in columns}, str(job["id"]), job["version"])
                for job, columns in self._jobs.values()
            ],
            self.now,
        )
        jobs = [job for job, _ in self._jobs.values()]
        await job_queries.store_crews([job for job in jobs if str(job["id"]) in self._crews])
        await job_queries.move_crews(
            [
                (str(job["id"]), job["scheduled_at"])
                for job, columns in self._jobs.values()
                if "scheduled_at" in columns and str(job["id"]) not in self._crews
            ]
        )
        await job_queries.delete_checklist_items(self._reshaped.removed)
        await job_queries.insert_checklist_items(self._reshaped.added)
        await job_queries.move_checklist_items(self._reshaped.moved)
        if self._items:
            await job_queries.store_checklist_items(
                [(item_id, job_id, done) for item_id, (job_id, done) in self._items.items()],
                self.now,
            )
        return await record_changes(self.rows)


async def update_job(
    job_id: str, values: dict[str, Any], kind: str, actor: Actor = SYSTEM
) -> dict[str, Any]:
    """Change one job's stored fields (column name -> value) in its own transaction."""
    async with write_transaction():
        job = (await lock_jobs([job_id])).get(job_id)
        if job is None:
            raise JobNotFound()
        writer = JobWriter(actor)
        writer.change(job, values, kind)
        await writer.commit()
        return job


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, UUID) else value
