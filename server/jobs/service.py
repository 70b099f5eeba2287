"""Who may see which jobs, the feed's pages, and a job's detail.

Staff see only jobs assigned to them, whatever filters they pass; dispatchers see their
branch; admins see everything. A job outside the caller's view does not exist for them (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from server.core.access import Principal, Role
from server.core.clock import local_time
from server.errors import JobNotFound
from server.jobs import queries as job_queries
from server.jobs.crews import crew_of
from server.jobs.cursors import CursorCodec, FeedPosition
from server.jobs.queries import JobFilter
from server.jobs.reports import job_people


@dataclass(frozen=True)
class FeedQuery:
    """The feed's filters as the caller gave them (already validated)."""

    statuses: tuple[str, ...] = ()
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    assignee_id: str | None = None
    limit: int = 50
    cursor: str | None = None
    after: FeedPosition | None = None

    @cached_property
    def filters_key(self) -> str:
        """A canonical spelling of the filters (not the page): cursors are bound to it."""
        return "|".join(
            (
                ",".join(sorted(set(self.statuses))),
                self.scheduled_from.isoformat() if self.scheduled_from else "",
                self.scheduled_to.isoformat() if self.scheduled_to else "",
                self.assignee_id or "",
            )
        )

    @cached_property
    def page_key(self) -> str:
        return f"{self.filters_key}|{self.limit}|{self.cursor or ''}"


def visible_scope(principal: Principal) -> JobFilter:
    """Every job the caller may see: their own (staff), their branch's (dispatchers), all."""
    audience = principal.audience
    if audience.role is Role.STAFF:
        return JobFilter(assignee_id=audience.user_id)
    return JobFilter(branch_id=audience.branch_filter)


def visible_jobs(principal: Principal, query: FeedQuery) -> JobFilter:
    """The caller's scope, narrowed by their filters; staff cannot widen it."""
    scope = visible_scope(principal)
    return JobFilter(
        assignee_id=scope.assignee_id if principal.role is Role.STAFF else query.assignee_id,
        branch_id=scope.branch_id,
        statuses=query.statuses,
        scheduled_from=query.scheduled_from,
        scheduled_to=query.scheduled_to,
    )


def parse_job_id(raw: str) -> str:
    """A job id from a path: anything but a UUID is a job that does not exist (404)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise JobNotFound() from exc


def may_see(principal: Principal, job: dict[str, Any]) -> bool:
    """Staff see the jobs whose crew they are in; the office its branch's."""
    return principal.audience.sees_job(job["branch"], tuple(crew_of(job)))


def with_cursor(query: FeedQuery, codec: CursorCodec) -> FeedQuery:
    """Check the cursor before anything else: a forged or foreign one is a 400."""
    if not query.cursor:
        return query
    return replace(query, after=codec.decode(query.cursor, query.filters_key))


async def feed_page(principal: Principal, query: FeedQuery, codec: CursorCodec) -> dict[str, Any]:
    """One page of the feed: ``{jobs, total, hasMore, nextCursor}``."""
    job_filter = visible_jobs(principal, query)
    after = (query.after.scheduled_at, query.after.job_id) if query.after else None
    rows = await job_queries.feed_page(job_filter, after, query.limit + 1)
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        next_cursor = codec.encode(
            FeedPosition(last["scheduled_at"], str(last["id"])), query.filters_key
        )
    return {
        "jobs": [job_summary(row) for row in rows],
        "total": await job_queries.count_jobs(job_filter),
        "hasMore": has_more,
        "nextCursor": next_cursor,
    }


def job_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "customerName": row["customer_name"],
        "serviceType": row["service_type"],
        "status": row["status"],
        "address": row["address"],
        "scheduledDate": local_time(row["scheduled_at"]),
        "assigneeId": _id_or_none(row["assignee"]),
        "assigneeIds": crew_of(row),
        "priority": row["priority"],
        "version": row["version"],
        "updatedAt": local_time(row["updated_at"]),
    }


async def visible_job_version(principal: Principal, job_id: str) -> int:
    """The version of a job the caller may see; 404 for any other, existing or not."""
    scope = await job_queries.job_scope(job_id)
    if scope is None or not may_see(principal, scope):
        raise JobNotFound()
    return int(scope["version"])


async def job_detail(principal: Principal, job_id: str) -> dict[str, Any]:
    """The job with its customer's contact, crew, checklist, location, and the field's
    remarks and problems (its photos are added by server/photos)."""
    row = await job_queries.get_job(job_id)
    if row is None or not may_see(principal, row):
        raise JobNotFound()
    checklist = await job_queries.checklist_for(job_id)
    return {
        "job": job_fields(row),
        "customerContact": {
            "name": row["customer_name"],
            "phone": row["customer_phone"],
            "lineId": row["customer_line_id"],
        },
        "checklistItems": [checklist_item(item) for item in checklist],
        "photos": [],  # filled by photos.service.job_photos
        "location": {"lat": row["lat"], "lng": row["lng"]},
        **await job_people(job_id, crew_of(row)),
    }


def job_fields(row: dict[str, Any]) -> dict[str, Any]:
    """All of a job's own fields: the summary plus notes, duration and its owners."""
    return {
        **job_summary(row),
        "notes": row["notes"],
        "durationMinutes": row["duration_minutes"],
        "customerId": str(row["customer"]),
        "branchId": str(row["branch"]),
        "createdAt": local_time(row["created_at"]),
        "ownAddress": bool(row["own_address"]),
    }


def job_state(row: dict[str, Any], checklist: list[dict[str, Any]]) -> dict[str, Any]:
    """A job as offline sync sends it: its fields, checklist and location, so a phone can
    work on it with no signal."""
    return {
        **job_fields(row),
        "checklistItems": [checklist_item(item) for item in checklist],
        "location": {"lat": row["lat"], "lng": row["lng"]},
    }


def checklist_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(item["id"]),
        "label": item["label"],
        "done": item["done"],
        "doneAt": local_time(item["done_at"]) if item["done_at"] else None,
    }


def _id_or_none(value: object) -> str | None:
    return None if value is None else str(value)


async def job_summaries(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The list fields of live jobs among ``job_ids``, by id (one query)."""
    return {str(row["id"]): job_summary(row) for row in await job_queries.get_jobs(job_ids)}
