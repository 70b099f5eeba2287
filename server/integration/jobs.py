"""The CRM's jobs by its own ids: whole records upserted in batches through the one write
path a dispatcher's edits take, so the change log, live events, pushes and feed versions
follow exactly as they do for the office's own changes.

A batch is one write transaction: the jobs, customers and people it names are read in one
query each, each record is decided in memory by :mod:`server.integration.job_rules` (a
record that cannot apply fails alone), new jobs are written by one ``create_jobs`` and
changes by one :class:`JobWriter`. The PUT route is a batch of one; the bulk import sends
hundreds at a time.

Each job created or changed leaves the audit event a dispatcher's same act leaves, naming the
CRM's key and the request, in the batch's transaction; an unchanged record, or one that
failed, records nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from server.audit import service as audit
from server.core.clock import local_time
from server.db.engine import write_transaction
from server.errors import ApiError, RecordNotFound
from server.integration.job_rules import (
    Assignment,
    JobPlan,
    assignment_of,
    customer_of,
    new_job,
    plan_update,
)
from server.integration.schemas import JobRecord, UpsertStatus
from server.integration.upserts import Upserted, check_version
from server.jobs import queries as job_queries
from server.jobs.crews import crew_of
from server.jobs.writes import SYSTEM, JobWriter, create_jobs, lock_external_jobs

Outcome = UpsertStatus | ApiError
"""One record's outcome in a batch: what happened, or why it did not."""


@dataclass(frozen=True, slots=True)
class JobUpsert:
    """One record to upsert, with the version its ``If-Match`` expects (None: any)."""

    external_id: str
    record: JobRecord
    expected: int | None = None


async def upsert_job(
    external_id: str,
    record: JobRecord,
    expected: int | None = None,
    by: audit.AuditActor = audit.SYSTEM,
) -> Upserted:
    """Create or replace one job, audited as done ``by``; raises what the record's outcome
    was if it failed."""
    [outcome] = await upsert_jobs([JobUpsert(external_id, record, expected)], by)
    if isinstance(outcome, ApiError):
        raise outcome
    return Upserted(outcome, await read_job(external_id))


async def read_job(external_id: str) -> dict[str, Any]:
    """The job as the CRM reads it back (404 ``record_not_found`` when unknown)."""
    found = await job_records([external_id])
    if external_id not in found:
        raise RecordNotFound(f"No job has external id {external_id}.")
    return found[external_id]


async def job_records(external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The answers' records of the jobs among ``external_ids``, by external id."""
    rows = await job_queries.jobs_by_external_id(external_ids)
    checklists = await job_queries.checklists_by_job([str(row["id"]) for row in rows])
    crews = await job_queries.external_ids_of_people(
        sorted({user_id for row in rows for user_id in crew_of(row)})
    )
    return {
        str(row["external_id"]): job_out(row, checklists.get(str(row["id"]), []), crews)
        for row in rows
    }


def job_out(
    row: dict[str, Any], checklist: list[dict[str, Any]], external_ids: dict[str, str | None]
) -> dict[str, Any]:
    """The record as the CRM sent it, with what the field made of it (its crew by the CRM's
    ids; a member it does not know is left out)."""
    crew = [external_ids.get(user_id) for user_id in crew_of(row)]
    return {
        "externalId": row["external_id"],
        "id": str(row["id"]),
        "version": row["version"],
        "customerExternalId": row["customer_external_id"],
        "serviceType": row["service_type"],
        "scheduledDate": local_time(row["scheduled_at"]),
        "durationMinutes": row["duration_minutes"],
        "priority": row["priority"],
        "notes": row["notes"],
        "checklist": [item["label"] for item in checklist],
        "assigneeExternalIds": [external_id for external_id in crew if external_id],
        "status": row["status"],
        "address": row["address"],
        "location": {"lat": row["lat"], "lng": row["lng"]},
        "ownAddress": bool(row["own_address"]),
        "updatedAt": local_time(row["updated_at"]),
    }


async def upsert_jobs(
    upserts: Sequence[JobUpsert], by: audit.AuditActor = audit.SYSTEM
) -> list[Outcome]:
    """Upsert records of distinct external ids in one transaction, audited as done ``by``;
    each one's outcome, in order. Two requests creating the same job at once: the one that
    lost the race is run again, and finds the job."""
    try:
        return await _upsert_in_transaction(upserts, by)
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        return await _upsert_in_transaction(upserts, by)


async def _upsert_in_transaction(
    upserts: Sequence[JobUpsert], by: audit.AuditActor
) -> list[Outcome]:
    async with write_transaction():
        batch = await Batch.read(upserts)
        outcomes: list[Outcome] = []
        for upsert in upserts:
            try:
                outcomes.append(batch.decide(upsert))
            except ApiError as refused:
                outcomes.append(refused)
        if batch.new_jobs:
            await create_jobs([], batch.new_jobs, batch.new_items, SYSTEM)
        await batch.writer.commit()
        await audit.record_all(by, batch.events)
    return outcomes


@dataclass
class Batch:
    """What a batch's records name, read once, and what they will write."""

    jobs: dict[str, dict[str, Any]]
    checklists: dict[str, list[dict[str, Any]]]
    customers: dict[str, dict[str, Any]]
    people: dict[str, dict[str, Any]]
    writer: JobWriter = field(default_factory=lambda: JobWriter(SYSTEM))
    new_jobs: list[dict[str, Any]] = field(default_factory=list)
    new_items: list[dict[str, Any]] = field(default_factory=list)
    events: list[audit.Event] = field(default_factory=list)

    @classmethod
    async def read(cls, upserts: Sequence[JobUpsert]) -> Batch:
        """Inside the write transaction: the existing jobs (locked), their checklists, and
        the customers and people the records name."""
        jobs = await lock_external_jobs([u.external_id for u in upserts])
        customers = sorted({u.record.customer_external_id for u in upserts})
        people = sorted({p for u in upserts for p in u.record.assignee_external_ids or []})
        return cls(
            jobs=jobs,
            checklists=await job_queries.checklists_by_job([str(j["id"]) for j in jobs.values()]),
            customers=await job_queries.customers_by_external_id(customers),
            people=await job_queries.people_by_external_id(people),
        )

    def decide(self, upsert: JobUpsert) -> UpsertStatus:
        """Decide one record and queue what it writes; raises (writing nothing) when the
        record as a whole cannot apply."""
        job = self.jobs.get(upsert.external_id)
        check_version(job, upsert.expected)
        customer = customer_of(upsert.record, self.customers)
        assignment: Assignment = assignment_of(upsert.record, self.people)
        if job is None:
            row, items = new_job(upsert.external_id, upsert.record, customer, assignment)
            self.new_jobs.append(row)
            self.new_items.extend(items)
            crew = {"crew": assignment.crew}
            self.events.append(audit.Event("job.created", "job", row["id"], row["branch"], crew))
            return "created"
        plan = plan_update(
            job, self.checklists.get(str(job["id"]), []), upsert.record, customer, assignment
        )
        if not plan:
            return "unchanged"
        self.events.append(change_event(job, plan))  # before the writer moves its crew on
        job["customer_name"] = customer["name"]  # as the change's live event shows the job
        about = {"checklist": plan.labels} if plan.checklist else {}
        self.writer.change(job, plan.values, plan.kind, about=about, checklist=plan.checklist)
        return "updated"


def change_event(job: dict[str, Any], plan: JobPlan) -> audit.Event:
    """The event a dispatcher's same edit leaves: a new crew is ``job.assigned`` (or
    ``job.reassigned``, from a crew) naming the crew before and after, else the change's kind;
    ``fields`` names every field the record changed (one upsert may change several)."""
    fields = [*plan.values, "checklist"] if plan.checklist else list(plan.values)
    detail: dict[str, Any] = {"fields": sorted(fields)}
    action = plan.kind
    if "crew" in plan.values:
        before = crew_of(job)
        detail |= {"crew": list(plan.values["crew"]), "previousCrew": before}
        if action == "job.assigned" and before:
            action = "job.reassigned"
    return audit.Event(action, "job", str(job["id"]), job["branch"], detail)
