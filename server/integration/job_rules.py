"""Who owns which field of a job the CRM sends, as plain functions over plain data.

The office books the work; the field does it. An upsert replaces what the office owns
(customer, service, time, duration, priority, notes, checklist labels, and the crew and
the place until someone sets out) and never rewinds what the field did (status, ticks,
photos, check-ins, problems, remarks). Once someone has set out, a crew the record names
differently is left as it is (a dispatcher may have sent help) and the rest still applies.
The table is in ``docs/integration.md#field-ownership``, and
``tests/integration/test_field_ownership.py`` tests it row by row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.dispatch.service import is_assignable
from server.errors import InvalidTransition, ValidationFailed
from server.integration.schemas import JobRecord
from server.jobs.crews import crew_of, crew_text, lead_of
from server.jobs.states import FINISHED, NOT_SET_OUT, status_after_reschedule
from server.jobs.writes import ChecklistEdit

NOT_ASSIGNABLE = "must be active staff of the job's branch (the customer's)"


@dataclass(frozen=True, slots=True)
class Assignment:
    """What ``assigneeExternalIds`` asks for: ``keep`` the crew it has (omitted), no one
    (``[]``), or ``people`` (lead first)."""

    keep: bool = False
    people: tuple[dict[str, Any], ...] = ()

    @property
    def crew(self) -> list[str]:
        return [str(person["id"]) for person in self.people]

    def require_assignable(self, branch: str) -> None:
        if not all(is_assignable(person, branch) for person in self.people):
            raise ValidationFailed([("assigneeExternalIds", NOT_ASSIGNABLE)])


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What an upsert writes to an existing job: ``values`` (column -> value) and a
    checklist reshaping, under the change-log ``kind`` a dispatcher's same edit has."""

    values: dict[str, Any] = field(default_factory=dict)
    checklist: ChecklistEdit = field(default_factory=ChecklistEdit)
    labels: list[str] | None = None  # the checklist's labels after a reshaping

    def __bool__(self) -> bool:
        return bool(self.values or self.checklist)

    @property
    def kind(self) -> str:
        if self.values.get("status") == "cancelled":
            return "job.cancelled"
        for column, kind in (
            ("crew", "job.assigned"),
            ("scheduled_at", "job.rescheduled"),
            ("priority", "job.reprioritised"),
        ):
            if column in self.values:
                return kind
        return "job.updated"


def customer_of(record: JobRecord, customers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    customer = customers.get(record.customer_external_id)
    if customer is None:
        raise ValidationFailed(
            [("customerExternalId", f"no customer has external id {record.customer_external_id}")]
        )
    return customer


def assignment_of(record: JobRecord, people: dict[str, dict[str, Any]]) -> Assignment:
    wanted = record.assignee_external_ids
    if wanted is None:
        return Assignment(keep=True)
    unknown = [external_id for external_id in wanted if external_id not in people]
    if unknown:
        raise ValidationFailed(
            [("assigneeExternalIds", f"no staff has external id {', '.join(unknown)}")]
        )
    crew = list(dict.fromkeys(wanted))
    return Assignment(people=tuple(people[external_id] for external_id in crew))


def new_job(
    external_id: str,
    record: JobRecord,
    customer: dict[str, Any],
    assignment: Assignment,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new job's row and checklist rows: its branch is its customer's, and so is its place
    unless the record gives its own."""
    branch = str(customer["branch"])
    assignment.require_assignable(branch)
    job_id = str(uuid.uuid4())
    crew = assignment.crew
    status = "assigned" if crew else "pending"
    job = {
        "id": job_id,
        "external_id": external_id,
        "branch": branch,
        "customer": str(customer["id"]),
        "service_type": record.service_type,
        "status": "cancelled" if record.status == "cancelled" else status,
        "priority": record.priority,
        "scheduled_at": record.scheduled_date,
        "duration_minutes": record.duration_minutes,
        "assignee": lead_of(crew),
        "crew": crew_text(crew),
        **place_of(record, customer),
        "notes": record.notes,
    }
    items = [
        {"id": str(uuid.uuid4()), "job": job_id, "position": n, "label": label}
        for n, label in enumerate(record.checklist or [])
    ]
    return job, items


def plan_update(
    job: dict[str, Any],
    items: list[dict[str, Any]],
    record: JobRecord,
    customer: dict[str, Any],
    assignment: Assignment,
) -> JobPlan:
    """What of ``record`` applies to ``job`` (with its checklist ``items`` in position
    order); raises when the record as a whole cannot apply (nothing of it does)."""
    status = str(job["status"])
    if record.status == "cancelled" and status == "completed":
        raise InvalidTransition("A completed job cannot be cancelled.")
    if status in FINISHED:
        return JobPlan()
    if str(customer["branch"]) != str(job["branch"]):
        raise ValidationFailed(
            [("customerExternalId", "is a customer of another branch than the job's")]
        )
    wanted: dict[str, Any] = {
        "customer": str(customer["id"]),
        "service_type": record.service_type,
        "scheduled_at": record.scheduled_date,
        "duration_minutes": record.duration_minutes,
        "priority": record.priority,
        "notes": record.notes,
    }
    if status in NOT_SET_OUT:
        wanted.update(place_of(record, customer))
    wanted.update(_assignment(job, assignment))
    if record.status == "cancelled":
        wanted["status"] = "cancelled"
    elif not same(job["scheduled_at"], record.scheduled_date):
        resumed = status_after_reschedule(status, bool(crew_of(job)))
        if resumed != status:  # on hold, and the customer asked for another day
            wanted["status"] = resumed
    crew_ids = wanted.pop("crew_ids", None)
    values = {column: value for column, value in wanted.items() if not same(job[column], value)}
    if "crew" in values:
        values["crew"] = crew_ids  # the writer takes the ids and keeps the columns in step
    if record.checklist is None:
        return JobPlan(values)
    edit, labels = reshape(str(job["id"]), items, record.checklist)
    return JobPlan(values, edit, labels)


def place_of(record: JobRecord, customer: dict[str, Any]) -> dict[str, Any]:
    """The job's address and coordinates: the record's own, or else its customer's."""
    if record.address is None:
        return {
            "address": customer["address"],
            "lat": customer["lat"],
            "lng": customer["lng"],
            "own_address": False,
        }
    location = record.location
    return {
        "address": record.address,
        "lat": None if location is None else location.lat,
        "lng": None if location is None else location.lng,
        "own_address": True,
    }


def _assignment(job: dict[str, Any], assignment: Assignment) -> dict[str, Any]:
    """The crew and status an assignment asks for (none when it changes nothing); the crew
    as stored text (``crew``, compared) and as ids (``crew_ids``, written)."""
    if assignment.keep or crew_of(job) == assignment.crew:
        return {}
    if str(job["status"]) not in NOT_SET_OUT:
        return {}  # someone set out: the crew is the field's and the dispatcher's now
    assignment.require_assignable(str(job["branch"]))
    return {
        "crew": crew_text(assignment.crew),
        "crew_ids": assignment.crew,
        "status": "assigned" if assignment.crew else "pending",
    }


def reshape(
    job_id: str, items: list[dict[str, Any]], labels: list[str]
) -> tuple[ChecklistEdit, list[str]]:
    """The office's labels over the field's ticks: each label takes the first unused item
    with that label (else a new, undone one), in the CRM's order; a ticked item left over
    stays after them, an unticked one goes. Returns the edit and the labels after it."""
    unused = list(items)
    order: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for label in labels:
        match = next((item for item in unused if item["label"] == label), None)
        if match is not None:
            unused.remove(match)
            order.append(match)
        else:
            row = {"id": str(uuid.uuid4()), "job": job_id, "label": label}
            added.append(row)
            order.append(row)
    removed = [str(item["id"]) for item in unused if not item["done"]]
    order += [item for item in unused if item["done"]]
    moved: list[tuple[str, int]] = []
    for position, item in enumerate(order):
        if any(item is row for row in added):
            item["position"] = position
        elif item["position"] != position:
            moved.append((str(item["id"]), position))
    return ChecklistEdit(added, removed, moved), [item["label"] for item in order]


def same(stored: Any, wanted: Any) -> bool:
    """Whether a stored column already holds ``wanted`` (ids as text; a time SQLite gives
    back without its zone is UTC)."""
    if isinstance(stored, datetime) and isinstance(wanted, datetime):
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return bool(stored == wanted)
    if isinstance(stored, uuid.UUID):
        stored = str(stored)
    return bool(stored == wanted)
