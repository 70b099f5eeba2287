"""Dispatch writes: create, assign, edit, resume and reopen jobs, for a dispatcher's own
branch (admins: all).

A job of another branch is answered exactly like a job that does not exist. Each write is one
transaction with its change-log row, on the job locked for the transaction, so a dispatcher
and a phone syncing the same job are serialised and the state machine
(server/jobs/states.py) sees the real status.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from server.audit import service as audit
from server.checkins import queries as check_in_queries
from server.checkins.schemas import Coordinates
from server.checkins.service import check_in_record
from server.core.access import Principal, Role
from server.core.inputs import Input, Priority, Prose, Rfc3339, Text
from server.db.engine import write_transaction
from server.errors import InvalidTransition, JobNotFound, ValidationFailed
from server.jobs import queries as job_queries
from server.jobs import states as job_states
from server.jobs.crews import crew_of, lead_of, unique_crew
from server.jobs.schemas import MAX_CREW
from server.jobs.service import job_detail, may_see, visible_scope
from server.jobs.writes import Actor, JobWriter, create_jobs, lock_jobs
from server.people import queries as people_queries

MAX_CHECKLIST = 50
Label = Annotated[Prose, Field(min_length=1, max_length=200)]
Address = Annotated[Prose, Field(min_length=1, max_length=500)]
Crew = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_CREW)]


class NamesACrew(Input):
    """A crew named either way: ``assigneeIds`` (lead first) or ``assigneeId`` for one."""

    assignee_id: uuid.UUID | None = None
    assignee_ids: Crew | None = None

    @model_validator(mode="after")
    def _one_way_to_name_the_crew(self) -> NamesACrew:
        if self.assignee_id is not None and self.assignee_ids is not None:
            raise ValueError("give assigneeId or assigneeIds, not both")
        return self

    @property
    def crew(self) -> list[str]:
        if self.assignee_ids is not None:
            return unique_crew(self.assignee_ids)
        return [] if self.assignee_id is None else [str(self.assignee_id)]

    @property
    def crew_field(self) -> str:
        """The field the request named its crew in (a refusal names it back)."""
        return "assigneeId" if self.assignee_id is not None else "assigneeIds"


class NewJob(NamesACrew):
    """A job for a customer; at the customer's address unless it has its own."""

    customer_id: uuid.UUID
    service_type: Text = Field(min_length=1, max_length=60)
    scheduled_date: Rfc3339
    duration_minutes: int = Field(120, ge=15, le=24 * 60, strict=True)
    priority: Priority = "normal"
    notes: Prose = Field("", max_length=4000)
    checklist: list[Label] = Field(default_factory=list, max_length=MAX_CHECKLIST)
    address: Address | None = None
    location: Coordinates | None = None

    @model_validator(mode="after")
    def _a_location_has_an_address(self) -> NewJob:
        if self.location is not None and self.address is None:
            raise ValueError("give the address of the location")
        return self


class AssignJob(NamesACrew):
    """The crew, lead first: ``assigneeIds``, or ``assigneeId`` for a crew of one."""

    @model_validator(mode="after")
    def _names_a_crew(self) -> AssignJob:
        if not self.crew:
            raise ValueError("give assigneeId or assigneeIds")
        return self


class JobEdits(Input):
    """``status``: ``assigned`` resumes a job on hold, ``cancelled`` cancels it. A new
    ``address`` (and ``location``) makes the job's address its own."""

    priority: Priority | None = None
    scheduled_date: Rfc3339 | None = None
    duration_minutes: int | None = Field(None, ge=15, le=24 * 60, strict=True)
    notes: Prose | None = Field(None, max_length=4000)
    status: Literal["assigned", "cancelled"] | None = None
    address: Address | None = None
    location: Coordinates | None = None

    @model_validator(mode="after")
    def _edits_something(self) -> JobEdits:
        if not self.columns():
            raise ValueError(
                "give priority, scheduledDate, durationMinutes, notes, status or address"
            )
        if self.location is not None and self.address is None:
            raise ValueError("give the address of the location")
        return self

    def columns(self) -> dict[str, Any]:
        named: dict[str, Any] = {
            "priority": self.priority,
            "scheduled_at": self.scheduled_date,
            "duration_minutes": self.duration_minutes,
            "notes": self.notes,
            "status": self.status,
            "address": self.address,
        }
        columns = {column: value for column, value in named.items() if value is not None}
        if self.address is not None:
            columns["lat"] = None if self.location is None else self.location.lat
            columns["lng"] = None if self.location is None else self.location.lng
            columns["own_address"] = True
        return columns


class Reopen(Input):
    reason: Prose = Field(min_length=1, max_length=1000)


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.device_id)


def audit_actor(principal: Principal, request_id: str | None) -> audit.AuditActor:
    return audit.AuditActor.user(principal.user_id, request_id)


async def create_job(
    principal: Principal, new: NewJob, request_id: str | None = None
) -> dict[str, Any]:
    """A new job for one of the branch's customers, pending or assigned at once."""
    customer = await people_queries.get_customer(str(new.customer_id))
    if customer is None or not principal.audience.office_of(customer["branch"]):
        raise ValidationFailed([("customerId", "no such customer in your branch")])
    branch = str(customer["branch"])
    crew = new.crew
    await require_crew(crew, branch, new.crew_field)
    own = new.address is not None
    job_id = str(uuid.uuid4())
    job = {
        "id": job_id,
        "branch": branch,
        "customer": str(customer["id"]),
        "service_type": new.service_type,
        "status": "assigned" if crew else "pending",
        "priority": new.priority,
        "scheduled_at": new.scheduled_date,
        "duration_minutes": new.duration_minutes,
        "assignee": lead_of(crew),
        "crew": " ".join(crew),
        "address": new.address if own else customer["address"],
        "lat": (new.location.lat if new.location else None) if own else customer["lat"],
        "lng": (new.location.lng if new.location else None) if own else customer["lng"],
        "own_address": own,
        "notes": new.notes,
    }
    items = [
        {"id": str(uuid.uuid4()), "job": job_id, "position": n, "label": label}
        for n, label in enumerate(new.checklist)
    ]
    async with write_transaction():
        await create_jobs([], [job], items, actor_of(principal))
        await audit.record(
            audit_actor(principal, request_id),
            "job.created",
            "job",
            job_id,
            branch_id=branch,
            detail={"crew": crew},
        )
    return await job_detail(principal, job_id)


async def assign_job(
    principal: Principal, job_id: str, assign: AssignJob, request_id: str | None = None
) -> dict[str, Any]:
    """Give a job not finished a crew of active staff of its branch, lead first. The crew it
    had before hears the job left them; their edits still queued offline come back as
    ``job_reassigned`` conflicts (server/sync/rules.py)."""
    async with write_transaction():
        job = await _locked_visible_job(principal, job_id)
        crew = assign.crew
        await require_crew(crew, str(job["branch"]), assign.crew_field)
        if not job_states.can_assign(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} cannot be reassigned.")
        before = crew_of(job)
        status = job_states.status_after_assign(job["status"], lead_of(before) != crew[0])
        if crew != before or status != job["status"]:
            writer = JobWriter(actor_of(principal))
            writer.change(job, {"crew": crew, "status": status}, "job.assigned")
            await writer.commit()
            await audit.record(
                audit_actor(principal, request_id),
                "job.reassigned" if before else "job.assigned",
                "job",
                job_id,
                branch_id=job["branch"],
                detail={"crew": crew, "previousCrew": before},
            )
    return await job_detail(principal, job_id)


async def edit_job(
    principal: Principal, job_id: str, edits: JobEdits, request_id: str | None = None
) -> dict[str, Any]:
    """Re-prioritise, reschedule, annotate, move, resume or cancel; unchanged values write
    nothing."""
    async with write_transaction():
        job = await _locked_visible_job(principal, job_id)
        if edits.status == "cancelled" and not job_states.can_cancel(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} cannot be cancelled.")
        if edits.status == "assigned" and not job_states.can_resume(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} is not on hold.")
        if edits.status == "assigned" and not crew_of(job):
            raise InvalidTransition("Give the job a crew to resume it (assign it).")
        if edits.status == "assigned":  # whoever leads it must still be able to
            await require_crew(crew_of(job), str(job["branch"]), "status")
        values = {k: v for k, v in edits.columns().items() if not _same(job[k], v)}
        if edits.location is None and "address" not in values:
            for column in ("lat", "lng", "own_address"):  # the same address sent again
                values.pop(column, None)
        if "scheduled_at" in values and "status" not in values:
            resumed = job_states.status_after_reschedule(job["status"], bool(crew_of(job)))
            if resumed != job["status"]:
                values["status"] = resumed
        if values:
            kind = _edit_kind(values)
            writer = JobWriter(actor_of(principal))
            writer.change(job, values, kind)
            await writer.commit()
            await audit.record(
                audit_actor(principal, request_id),
                kind,
                "job",
                job_id,
                branch_id=job["branch"],
                detail={"fields": sorted(values)},
            )
    return await job_detail(principal, job_id)


async def reopen_job(
    principal: Principal, job_id: str, reopen: Reopen, request_id: str | None = None
) -> dict[str, Any]:
    """A job completed by mistake goes back to ``in_progress`` for its crew; the reason is
    logged with the change."""
    async with write_transaction():
        job = await _locked_visible_job(principal, job_id)
        if not job_states.can_reopen(job["status"]):
            raise InvalidTransition(f"A job that is {job['status']} cannot be reopened.")
        writer = JobWriter(actor_of(principal))
        writer.change(
            job,
            {"status": job_states.REOPENED_TO},
            "job.reopened",
            about={"reason": reopen.reason},
        )
        await writer.commit()
        await audit.record(
            audit_actor(principal, request_id),
            "job.reopened",
            "job",
            job_id,
            branch_id=job["branch"],
        )
    return await job_detail(principal, job_id)


async def job_check_ins(principal: Principal, job_id: str) -> dict[str, Any]:
    """Every check-in of a job in the caller's branch, with its coordinates until purged."""
    job = await job_queries.job_scope(job_id)
    if job is None or not may_see(principal, job):
        raise JobNotFound()
    return {
        "checkIns": [check_in_record(row) for row in await check_in_queries.check_ins_of(job_id)]
    }


async def require_crew(crew: list[str], branch_id: str, named_as: str) -> None:
    """Every member must be active field staff of the job's branch (``named_as``: the field
    the request named them in)."""
    people = await people_queries.users_by_id(crew)
    if not all(is_assignable(people.get(user_id), branch_id) for user_id in crew):
        raise ValidationFailed([(named_as, "must be active staff of the job's branch")])


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
    if values.get("status") == "cancelled":
        return "job.cancelled"
    if "scheduled_at" in values:
        return "job.rescheduled"
    if values.get("status") in ("assigned", "pending"):
        return "job.resumed"
    if "priority" in values:
        return "job.reprioritised"
    return "job.updated"


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(wanted, datetime):
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return bool(stored == wanted)
    return bool(stored == wanted)
