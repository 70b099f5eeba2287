"""Queries on jobs, their customers and checklists: the feed's keyset page and a job's detail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.columns import Serial
from piccolo.columns.defaults.base import Default
from piccolo.custom_types import Combinable
from piccolo.table import Table

from server.db.engine import current_engine, execute_many
from server.db.tables import ChecklistItem, Customer, Job, JobCrew, User

INSERT_CHUNK = 500

FEED_COLUMNS: tuple[Any, ...] = (
    Job.id,
    Job.customer.name.as_alias("customer_name"),
    Job.service_type,
    Job.status,
    Job.address,
    Job.scheduled_at,
    Job.assignee,
    Job.crew,
    Job.priority,
    Job.version,
    Job.updated_at,
)


_FEED_JOB_COLUMNS = tuple(c._meta.name for c in FEED_COLUMNS if c is not FEED_COLUMNS[1])
"""The feed's own columns of the job (all but its customer's name), by name."""


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which live jobs a query may return: the caller's scope narrowed by their filters
    (``assignee_id``: jobs whose crew they are in)."""

    assignee_id: str | None = None
    branch_id: str | None = None
    statuses: tuple[str, ...] = ()
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None


def _conditions(job_filter: JobFilter) -> list[Combinable]:
    conditions: list[Combinable] = [Job.deleted_at.is_null()]
    if job_filter.assignee_id is not None:
        conditions.append(Job.id.is_in(crew_jobs(job_filter.assignee_id)))
    if job_filter.branch_id is not None:
        conditions.append(Job.branch == job_filter.branch_id)
    if job_filter.statuses:
        conditions.append(Job.status.is_in(list(job_filter.statuses)))
    if job_filter.scheduled_from is not None:
        conditions.append(Job.scheduled_at >= job_filter.scheduled_from)
    if job_filter.scheduled_to is not None:
        conditions.append(Job.scheduled_at < job_filter.scheduled_to)
    return conditions


def crew_jobs(user_id: str) -> Any:
    """The ids of the jobs whose crew ``user_id`` is in, as a sub-select."""
    return JobCrew.select(JobCrew.job).where(JobCrew.member == user_id)


def _after(scheduled_at: datetime, job_id: str) -> Combinable:
    return (Job.scheduled_at > scheduled_at) | (
        (Job.scheduled_at == scheduled_at) & (Job.id > job_id)
    )


def feed_page_query(job_filter: JobFilter, after: tuple[datetime, str] | None, limit: int) -> Any:
    """Up to ``limit`` rows in (scheduled_at, id) order, strictly after ``after``. A crew
    member's page walks their ``job_crew`` rows in time order (``job_crew_feed``), joined to
    the jobs; any other page walks the jobs."""
    if job_filter.assignee_id is not None:
        return _crew_page_query(job_filter, after, limit)
    query = Job.select(*FEED_COLUMNS)
    for condition in _conditions(job_filter):
        query = query.where(condition)
    if after is not None:
        query = query.where(_after(*after))
    return query.order_by(Job.scheduled_at, Job.id).limit(limit)


def _crew_page_query(job_filter: JobFilter, after: tuple[datetime, str] | None, limit: int) -> Any:
    job: Any = JobCrew.job
    query = JobCrew.select(
        *(getattr(job, name).as_alias(name) for name in _FEED_JOB_COLUMNS[:1]),
        job.customer.name.as_alias("customer_name"),
        *(getattr(job, name).as_alias(name) for name in _FEED_JOB_COLUMNS[1:]),
    ).where((JobCrew.member == job_filter.assignee_id) & job.deleted_at.is_null())
    if job_filter.branch_id is not None:
        query = query.where(job.branch == job_filter.branch_id)
    if job_filter.statuses:
        query = query.where(job.status.is_in(list(job_filter.statuses)))
    if job_filter.scheduled_from is not None:
        query = query.where(JobCrew.scheduled_at >= job_filter.scheduled_from)
    if job_filter.scheduled_to is not None:
        query = query.where(JobCrew.scheduled_at < job_filter.scheduled_to)
    if after is not None:
        scheduled_at, job_id = after
        query = query.where(
            (JobCrew.scheduled_at > scheduled_at)
            | ((JobCrew.scheduled_at == scheduled_at) & (JobCrew.job > job_id))
        )
    return query.order_by(JobCrew.scheduled_at, JobCrew.job).limit(limit)


async def feed_page(
    job_filter: JobFilter, after: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await feed_page_query(job_filter, after, limit).run()
    return rows


async def count_jobs(job_filter: JobFilter) -> int:
    query = Job.count()
    for condition in _conditions(job_filter):
        query = query.where(condition)
    return int(await query.run())


DETAIL_COLUMNS: tuple[Any, ...] = (
    *Job.all_columns(),
    Job.customer.name.as_alias("customer_name"),
    Job.customer.phone.as_alias("customer_phone"),
    Job.customer.line_id.as_alias("customer_line_id"),
)


async def get_job(job_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Job.select(*DETAIL_COLUMNS)
        .where((Job.id == job_id) & Job.deleted_at.is_null())
        .first()
        .run()
    )
    return row


async def get_jobs(job_ids: list[str]) -> list[dict[str, Any]]:
    """Live jobs among ``job_ids`` with their customer columns, in no particular order."""
    if not job_ids:
        return []
    rows: list[dict[str, Any]] = (
        await Job.select(*DETAIL_COLUMNS)
        .where(Job.id.is_in(job_ids) & Job.deleted_at.is_null())
        .run()
    )
    return rows


async def lock_jobs(job_ids: list[str], scope: JobFilter) -> list[dict[str, Any]]:
    """Within a write transaction: the live jobs among ``job_ids`` within ``scope``, locked
    until commit (a job outside it is neither locked nor returned).

    PostgreSQL locks the rows (in id order, so two writers never deadlock); SQLite's
    transaction already holds the one write lock.
    """
    if not job_ids:
        return []
    query = Job.select(*DETAIL_COLUMNS).where(Job.id.is_in(sorted(job_ids)))
    for condition in _conditions(scope):
        query = query.where(condition)
    query = query.order_by(Job.id)
    if current_engine().engine_type == "postgres":
        query = query.lock_rows("UPDATE", of=(Job,))
    rows: list[dict[str, Any]] = await query.run()
    return rows


async def checklist_for(job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await ChecklistItem.select(
            ChecklistItem.id, ChecklistItem.label, ChecklistItem.done, ChecklistItem.done_at
        )
        .where(ChecklistItem.job == job_id)
        .order_by(ChecklistItem.position)
        .run()
    )
    return rows


async def checklists_by_job(job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The checklist items of several jobs by job id, each job's in position order."""
    by_job: dict[str, list[dict[str, Any]]] = {}
    for item in await checklists_for(job_ids):
        by_job.setdefault(str(item["job"]), []).append(item)
    return by_job


async def checklists_for(job_ids: list[str]) -> list[dict[str, Any]]:
    """The checklist items of several jobs, each job's in position order."""
    if not job_ids:
        return []
    rows: list[dict[str, Any]] = (
        await ChecklistItem.select(
            ChecklistItem.id,
            ChecklistItem.job,
            ChecklistItem.position,
            ChecklistItem.label,
            ChecklistItem.done,
            ChecklistItem.done_at,
        )
        .where(ChecklistItem.job.is_in(job_ids))
        .order_by(ChecklistItem.job)
        .order_by(ChecklistItem.position)
        .run()
    )
    return rows


async def store_checklist_items(items: list[tuple[str, str, bool]], at: datetime) -> None:
    """Within a transaction: tick or untick items, each ``(item id, job id, done)``."""
    await execute_many(
        "UPDATE checklist_item SET done = $1, done_at = $2 WHERE id = $3 AND job = $4",
        [(done, at if done else None, item_id, job_id) for item_id, job_id, done in items],
    )


async def insert_customers(rows: list[dict[str, Any]]) -> None:
    await insert_in_chunks(Customer, rows)


async def insert_jobs(rows: list[dict[str, Any]]) -> None:
    await insert_many(Job, rows)


async def insert_checklist_items(rows: list[dict[str, Any]]) -> None:
    await insert_many(ChecklistItem, rows)


async def insert_many(table: type[Table], rows: list[dict[str, Any]]) -> None:
    """Within a transaction: insert ``rows`` in one round of the driver, each column a row
    leaves out at its default. Piccolo builds an object and a query string per row, which
    costs ten times the database's own work for an import's thousands of jobs."""
    if not rows:
        return
    defaults = _defaults(table)
    names = list(defaults)
    placeholders = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    await execute_many(
        f"INSERT INTO {table._meta.tablename} ({', '.join(names)}) VALUES ({placeholders})",
        [tuple(_param(row.get(name, defaults[name])) for name in names) for row in rows],
    )


def _defaults(table: type[Table]) -> dict[str, Any]:
    """Each column's default as Piccolo would give it a new row (taken once per insert); a
    serial key is left to the database."""
    defaults: dict[str, Any] = {}
    for column in table._meta.columns:
        if isinstance(column, Serial):
            continue
        value = column.get_default_value()
        defaults[column._meta.db_column_name] = (
            value.python() if isinstance(value, Default) else value
        )
    return defaults


async def insert_in_chunks(table: type[Table], rows: list[dict[str, Any]]) -> None:
    """Bulk insert, kept under both engines' limit of bound parameters per statement."""
    for start in range(0, len(rows), INSERT_CHUNK):
        await table.insert(*(table(**row) for row in rows[start : start + INSERT_CHUNK])).run()


JOB_COLUMNS = frozenset(column._meta.db_column_name for column in Job._meta.columns)


async def store_jobs(changes: list[tuple[dict[str, Any], str, int]], at: datetime) -> None:
    """Within a transaction, on locked jobs: write each ``(columns, job id, version)``; one
    statement per set of columns, however many jobs share it."""
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for values, job_id, version in changes:
        columns = tuple(sorted(values))
        by_columns.setdefault(columns, []).append(
            (*(_param(values[c]) for c in columns), version, at, job_id)
        )
    for columns, rows in by_columns.items():
        unknown = set(columns) - JOB_COLUMNS
        if unknown:
            raise ValueError(f"not job columns: {sorted(unknown)}")
        n = len(columns)
        assignments = [f"{c} = ${i}" for i, c in enumerate(columns, 1)]
        assignments += [f"version = ${n + 1}", f"updated_at = ${n + 2}"]
        await execute_many(f"UPDATE job SET {', '.join(assignments)} WHERE id = ${n + 3}", rows)


def _param(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def job_scope(job_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Job.select(Job.id, Job.branch, Job.assignee, Job.crew, Job.version)
        .where((Job.id == job_id) & Job.deleted_at.is_null())
        .first()
        .run()
    )
    return row


EXTERNAL_COLUMNS: tuple[Any, ...] = (
    *DETAIL_COLUMNS,
    Job.customer.external_id.as_alias("customer_external_id"),
    Job.assignee.external_id.as_alias("assignee_external_id"),
)


async def unfinished_job_ids_of_customer(customer_id: str) -> list[str]:
    """A customer's live jobs not yet completed or cancelled: those phones and the board
    still show with the customer's name, phone and address."""
    rows = (
        await Job.select(Job.id)
        .where(
            (Job.customer == customer_id)
            & Job.deleted_at.is_null()
            & Job.status.not_in(["cancelled", "completed"])
        )
        .run()
    )
    return [str(row["id"]) for row in rows]


async def lock_jobs_by_external_id(external_ids: list[str]) -> list[dict[str, Any]]:
    """Within a write transaction: the live jobs the CRM knows by ``external_ids``, with the
    CRM's ids of their customer and assignee, locked until commit (as :func:`lock_jobs`)."""
    if not external_ids:
        return []
    # The ids first, through the external ids' index: asked at once for rows in id order,
    # the planner walks the whole table by its primary key.
    ids = [row["id"] for row in await Job.select(Job.id).where(Job.external_id.is_in(external_ids))]
    if not ids:
        return []
    query = (
        Job.select(*EXTERNAL_COLUMNS)
        .where(Job.id.is_in(sorted(ids)) & Job.deleted_at.is_null())
        .order_by(Job.id)
    )
    if current_engine().engine_type == "postgres":
        query = query.lock_rows("UPDATE", of=(Job,))
    rows: list[dict[str, Any]] = await query.run()
    return rows


async def jobs_by_external_id(external_ids: list[str]) -> list[dict[str, Any]]:
    """The live jobs among ``external_ids``, as :func:`lock_jobs_by_external_id` reads them."""
    if not external_ids:
        return []
    rows: list[dict[str, Any]] = (
        await Job.select(*EXTERNAL_COLUMNS)
        .where(Job.external_id.is_in(external_ids) & Job.deleted_at.is_null())
        .run()
    )
    return rows


async def customers_by_external_id(external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What a job takes from its customer (branch, name, address, location), by the CRM's id."""
    if not external_ids:
        return {}
    rows = await Customer.select(
        Customer.id,
        Customer.external_id,
        Customer.branch,
        Customer.name,
        Customer.address,
        Customer.lat,
        Customer.lng,
    ).where(Customer.external_id.is_in(external_ids))
    return {row["external_id"]: row for row in rows}


async def people_by_external_id(external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Who a job could be assigned to (id, role, branch, active), by the CRM's id."""
    if not external_ids:
        return {}
    rows = await User.select(User.id, User.external_id, User.role, User.branch, User.active).where(
        User.external_id.is_in(external_ids)
    )
    return {row["external_id"]: row for row in rows}


async def delete_checklist_items(item_ids: list[str]) -> None:
    """Within a transaction: remove checklist items (the office took them off unticked)."""
    if item_ids:
        await ChecklistItem.delete().where(ChecklistItem.id.is_in(item_ids)).run()


async def move_checklist_items(moves: list[tuple[str, int]]) -> None:
    """Within a transaction: give items new positions, each ``(item id, position)``."""
    if moves:
        await execute_many(
            "UPDATE checklist_item SET position = $1 WHERE id = $2",
            [(position, item_id) for item_id, position in moves],
        )


async def store_crews(jobs: list[dict[str, Any]]) -> None:
    """Within a transaction: each job's crew (its ``crew`` column, lead first) replaces the
    one stored."""
    if not jobs:
        return
    await JobCrew.delete().where(JobCrew.job.is_in([str(job["id"]) for job in jobs])).run()
    await insert_crews(jobs)


async def insert_crews(jobs: list[dict[str, Any]]) -> None:
    """Within a transaction: the crews of new jobs (from their ``crew`` column)."""
    await insert_many(
        JobCrew,
        [
            {
                "job": str(job["id"]),
                "member": user_id,
                "position": n,
                "scheduled_at": job["scheduled_at"],
            }
            for job in jobs
            for n, user_id in enumerate(str(job.get("crew") or "").split())
        ],
    )


async def move_crews(jobs: list[tuple[str, datetime]]) -> None:
    """Within a transaction: rescheduled jobs' crew rows follow them, each ``(job id,
    scheduled_at)``."""
    if jobs:
        await execute_many(
            "UPDATE job_crew SET scheduled_at = $1 WHERE job = $2",
            [(scheduled_at, job_id) for job_id, scheduled_at in jobs],
        )


async def external_ids_of_people(user_ids: list[str]) -> dict[str, str | None]:
    """The CRM's id of each person among ``user_ids`` (None for one it never sent)."""
    if not user_ids:
        return {}
    rows = await User.select(User.id, User.external_id).where(User.id.is_in(user_ids)).run()
    return {str(row["id"]): row["external_id"] for row in rows}


async def people_named(user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Who the people among ``user_ids`` are (name, phone), by id."""
    if not user_ids:
        return {}
    rows = await User.select(User.id, User.name, User.phone).where(User.id.is_in(user_ids)).run()
    return {str(row["id"]): row for row in rows}
