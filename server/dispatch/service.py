"""Dispatch writes: create, assign and edit jobs, for a dispatcher's own branch (admins: all).

A job of another branch is answered exactly like a job that does not exist. Each write is one
transaction with its change-log row, on the job locked for the transaction, so a dispatcher
and a phone syncing the same job are serialised and the state machine sees the real status.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from server.checkins import queries as check_in_queries
from server.checkins.service import check_in_record
from server.core.access import Principal, Role
from server.core.inputs import Input, Priority, Prose, Rfc3339, Text
from server.db.engine import write_transaction
from server.errors import InvalidTransition, JobNotFound, ValidationFailed
from server.jobs import queries as job_queries
from server.jobs import states as job_states
from server.jobs.service import job_detail, may_see, visible_scope
from server.jobs.writes import Actor, JobWriter, create_jobs, lock_jobs
from server.people import queries as people_queries

MAX_CHECKLIST = 50
Label = Annotated[Prose, Field(min_length=1, max_length=200)]


class NewJob(Input):
    customer_id: uuid.UUID
    service_type: Text = Field(min_length=1, max_length=60)
    scheduled_date: Rfc3339
    duration_minutes: int = Field(120, ge=15, le=24 * 60, strict=True)
    priority: Priority = "normal"
    notes: Prose = Field("", max_length=4000)
    assignee_id: uuid.UUID | None = None
    checklist: list[Label] = Field(default_factory=list, max_length=MAX_CHECKLIST)


class AssignJob(Input):
    assignee_id: uuid.UUID


class JobEdits(Input):
    priority: Priority | None = None
    scheduled_date: Rfc3339 | None = None
    duration_minutes: int | None = Field(None, ge=15, le=24 * 60, strict=True)
    notes: Prose | None = Field(None, max_length=4000)
    status: Literal["cancelled"] | None = None

    @model_validator(mode="after")
    def _edits_something(self) -> JobEdits:
        if not self.columns():
            raise ValueError("give priority, scheduledDate, durationMinutes, notes or status")
        return self

    def columns(self) -> dict[str, Any]:
        named = {
            "priority": self.priority,
            "scheduled_at": self.scheduled_date,
            "duration_minutes": self.duration_minutes,
            "notes": self.notes,
            "status": self.status,
        }
        return {column: value for column, value in named.items() if value is not None}


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.device_id)


async def create_job(principal: Principal, new: NewJob) -> dict[str, Any]:
    """A new job for one of the branch's customers, pending or assigned at once."""
    customer = await people_queries.get_customer(str(new.customer_id))
    if customer is None or not principal.audience.office_of(customer["branch"]):
        raise ValidationFailed([("customerId", "no such customer in your branch")])
    branch = str(customer["branch"])
    if new.assignee_id is not None:
        await require_assignable(new.assignee_id, branch)
    job_id = str(uuid.uuid4())
    job = {
        "id": job_id,
        "branch": branch,
        "customer": str(customer["id"]),
        "service_type": new.service_type,
        "status": "assigned" if new.assignee_id else "pending",
        "priority": new.priority,
        "scheduled_at": new.scheduled_date,
        "duration_minutes": new.duration_minutes,
        "assignee": str(new.assignee_id) if new.assignee_id else None,
        "address": customer["address"],
        "lat": customer["lat"],
        "lng": customer["lng"],
        "notes": new.notes,
    }
    items = [
        {"id": str(uuid.uuid4()), "job": job_id, "position": n, "label": label}
        for n, label in enumerate(new.checklist)
    ]
    await create_jobs([], [job], items, actor_of(principal))
    return await job_detail(principal, job_id)


async def assign_job(principal: Principal, job_id: str, assign: AssignJob) -> dict[str, Any]:
    """Assign or reassign a pending or assigned job to active staff of its branch."""
    async with write_transaction():
        job = await _locked_visible_job(principal, job_id)
        await require_assignable(assign.assignee_id, str(job["branch"]))
        if not job_states.can_assign(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} cannot be reassigned.")
        if str(job["assignee"]) != str(assign.assignee_id) or job["status"] != "assigned":
            values = {"assignee": str(assign.assignee_id), "status": "assigned"}
            writer = JobWriter(actor_of(principal))
            writer.change(job, values, "job.assigned")
            await writer.commit()
    return await job_detail(principal, job_id)


async def edit_job(principal: Principal, job_id: str, edits: JobEdits) -> dict[str, Any]:
    """Re-prioritise, reschedule, annotate or cancel; unchanged values write nothing."""
    async with write_transaction():
        job = await _locked_visible_job(principal, job_id)
        if edits.status == "cancelled" and not job_states.can_cancel(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} cannot be cancelled.")
        values = {k: v for k, v in edits.columns().items() if not _same(job[k], v)}
        if values:
            writer = JobWriter(actor_of(principal))
            writer.change(job, values, _edit_kind(values))
            await writer.commit()
    return await job_detail(principal, job_id)


async def job_check_ins(principal: Principal, job_id: str) -> dict[str, Any]:
    """Every check-in of a job in the caller's branch, with its coordinates until purged."""
    job = await job_queries.job_scope(job_id)
    if job is None or not may_see(principal, job):
        raise JobNotFound()
    return {
        "checkIns": [check_in_record(row) for row in await check_in_queries.check_ins_of(job_id)]
    }


async def require_assignable(user_id: uuid.UUID, branch_id: str) -> None:
    if not is_assignable(await people_queries.get_user(str(user_id)), branch_id):
        raise ValidationFailed([("assigneeId", "must be active staff of the job's branch")])


def is_assignable(user: dict[str, Any] | None, branch_id: str) -> bool:
    """Whether a job of ``branch_id`` may go to ``user``: active field staff of that branch
    (the one rule for a dispatcher's assignment and the CRM's)."""
    return (
        user is not None
        and user["role"] == Role.STAFF
        and bool(user["active"])
        and str(user["branch"]) == branch_id
    )


async def _locked_visible_job(principal: Principal, job_id: str) -> dict[str, Any]:
    job = (await lock_jobs([job_id], visible_scope(principal))).get(job_id)
    if job is None:
        raise JobNotFound()
    return job


def _edit_kind(values: dict[str, Any]) -> str:
    for column, kind in (
        ("status", "job.cancelled"),
        ("scheduled_at", "job.rescheduled"),
        ("priority", "job.reprioritised"),
    ):
        if column in values:
            return kind
    return "job.updated"


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(wanted, datetime):
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return bool(stored == wanted)
    return bool(stored == wanted)
