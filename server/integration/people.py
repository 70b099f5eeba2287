"""The office CRM's people: branches, teams, staff and customers, upserted whole by the CRM's
own ids and read back; links that let staff set their password; and what a change to a
person sets off at once.

Each upsert is one write transaction: it compares the whole record with what is stored and
writes only what differs (one version up), or nothing at all (same version, no change-log
row). References name the CRM's ids (``branchExternalId``, ``teamExternalId``); an unknown one
is a 422 naming the field. The product's own id (a UUID) is made on the first upsert.

A change to a staff member takes effect at once, not at their next token refresh:

- a new role, branch or team is logged as a ``user.changed`` fact, which every worker's
  change mirror applies to the person's tokens from the next request (and which ends their
  live streams, so they reconnect under the new audience);
- ``active: false`` signs them out of every device, forgets their browsers' push
  subscriptions and unused password links, and takes them off the crews of their jobs not
  started or on hold (``assigned``, ``on_hold``): the next member leads, and an assigned job
  left with nobody goes back to the office as ``pending``. Jobs already under way
  (``en_route``, ``in_progress``) keep them: someone is at the customer's door;
- a new name or phone moves their unfinished jobs a version up (each detail shows the crew).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from server.audit import service as audit
from server.auth import password_links
from server.auth import service as auth_service
from server.auth.password_links import INVITE, RESET, PasswordLink
from server.changes.service import Placement, record_user_changed
from server.core.schemas import ApiModel, Location
from server.db.engine import write_transaction
from server.errors import RecordNotFound, ValidationFailed
from server.integration.schemas import (
    BranchOut,
    BranchRecord,
    CustomerOut,
    CustomerRecord,
    ExternalId,
    StaffOut,
    StaffRecord,
    TeamOut,
    TeamRecord,
    UpsertStatus,
)
from server.integration.upserts import Upserted, check_version
from server.jobs import queries as job_queries
from server.jobs.crews import crew_of
from server.jobs.queries import JobFilter
from server.jobs.states import NOT_SET_OUT
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from server.people import queries as people_queries
from server.push import subscription_queries as push_subscription_queries

NOT_STARTED = ("assigned", "on_hold")
UNFINISHED = ("pending", "assigned", "en_route", "in_progress", "on_hold")
SHOWN_WITH_CREWS = ("name", "phone")  # in each job's detail, beside the crew's ids
SHOWN_WITH_JOBS = ("name", "phone", "line_id")
PLACE = ("address", "lat", "lng")
STAFF_COLUMNS = ("email", "name", "phone", "locale", "role", "branch", "team", "active")
AUDITED = {"role": "role", "branch": "branchId", "team": "teamId", "active": "active"}
JOB_PAGE = 500
EXTERNAL_ID: TypeAdapter[str] = TypeAdapter(ExternalId)


@dataclass(frozen=True, slots=True)
class Saved:
    status: UpsertStatus
    row: dict[str, Any]  # the stored columns after the upsert


# Branches and teams --------------------------------------------------------------------


async def upsert_branch(
    external_id: str, record: BranchRecord, expected: int | None = None
) -> Upserted:
    external_id = valid_external_id(external_id)
    async with write_transaction():
        await people_queries.lock_upserts("branch")
        stored = await people_queries.branch_by_external_id(external_id)
        check_version(stored, expected)
        saved = await _save("branch", external_id, stored, {"name": record.name})
    return Upserted(saved.status, _branch_out(saved.row))


async def read_branch(external_id: str) -> dict[str, Any]:
    return _branch_out(_found(await people_queries.branch_by_external_id(external_id)))


async def upsert_team(
    external_id: str, record: TeamRecord, expected: int | None = None
) -> Upserted:
    external_id = valid_external_id(external_id)
    async with write_transaction():
        await people_queries.lock_upserts("team")
        stored = await people_queries.team_by_external_id(external_id)
        check_version(stored, expected)
        branch = await _branch_id(record.branch_external_id, "branchExternalId")
        if stored is not None and await people_queries.team_members_elsewhere(
            str(stored["id"]), branch
        ):
            raise ValidationFailed(
                [("branchExternalId", "the team has staff of its branch: move them first")]
            )
        saved = await _save("team", external_id, stored, {"name": record.name, "branch": branch})
    shown = {**saved.row, "branch_external_id": record.branch_external_id}
    return Upserted(saved.status, _team_out(shown))


async def read_team(external_id: str) -> dict[str, Any]:
    return _team_out(_found(await people_queries.team_by_external_id(external_id)))


# Staff ------------------------------------------------------------------------------


async def upsert_staff(
    external_id: str,
    record: StaffRecord,
    expected: int | None = None,
    by: audit.AuditActor = audit.SYSTEM,
) -> Upserted:
    """Create or update a person; see the module's docstring for what a change sets off.
    A new person, or a change, is audited as done ``by`` the CRM's key."""
    external_id = valid_external_id(external_id)
    async with write_transaction():
        await people_queries.lock_upserts("staff")
        stored = await people_queries.staff_by_external_id(external_id)
        check_version(stored, expected)
        if stored is not None and stored["erased_at"] is not None:
            raise ValidationFailed([("externalId", "this person's data was erased")])
        values = await _staff_values(record, stored)
        saved = await _save("staff", external_id, stored, values, {"password_hash": ""})
        if stored is not None and saved.status == "updated":
            await _staff_changed(stored, saved.row, by)
        if saved.status != "unchanged":
            await _audit_staff(by, stored, saved.row)
    shown = {
        **saved.row,
        "branch_external_id": record.branch_external_id,
        "team_external_id": record.team_external_id,
    }
    return Upserted(saved.status, _staff_out(shown))


async def read_staff(external_id: str) -> dict[str, Any]:
    return _staff_out(_found(await people_queries.staff_by_external_id(external_id)))


async def invite_staff(external_id: str, base: str, lifetime: timedelta) -> PasswordLink:
    """A one-time link for an active staff member to set their password."""
    return await _password_link(external_id, INVITE, base, lifetime)


async def reset_staff_password(external_id: str, base: str, lifetime: timedelta) -> PasswordLink:
    """A one-time link for an active staff member who forgot their password."""
    return await _password_link(external_id, RESET, base, lifetime)


async def _password_link(
    external_id: str, purpose: str, base: str, lifetime: timedelta
) -> PasswordLink:
    async with write_transaction():
        person = _found(await people_queries.staff_by_external_id(external_id))
        if not person["active"]:
            raise ValidationFailed([("active", "this person is inactive: activate them first")])
        return await password_links.issue_link(str(person["id"]), purpose, base, lifetime)


async def _staff_values(record: StaffRecord, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The person's columns from ``record``, its references resolved and checked."""
    branch = None
    if record.branch_external_id is not None:
        branch = await _branch_id(record.branch_external_id, "branchExternalId")
    team = None
    if record.team_external_id is not None:
        found = await people_queries.team_by_external_id(record.team_external_id)
        if found is None:
            raise ValidationFailed([("teamExternalId", "no team with this external id")])
        if str(found["branch"]) != branch:
            raise ValidationFailed([("teamExternalId", "the team belongs to another branch")])
        team = str(found["id"])
    email = record.email.strip().lower()
    holder = await people_queries.find_user_by_email(email)
    if holder is not None and (stored is None or holder["id"] != stored["id"]):
        raise ValidationFailed([("email", "another person already uses this email")])
    return {
        "email": email,
        "name": record.name,
        "phone": record.phone,
        "locale": record.locale,
        "role": record.role,
        "branch": branch,
        "team": team,
        "active": record.active,
    }


async def _audit_staff(
    by: audit.AuditActor, before: dict[str, Any] | None, after: dict[str, Any]
) -> None:
    """One event for a person made or changed: what changed, by name, and the old and new
    role, branch, team and active flag (ids and codes only)."""
    if before is None:
        action, detail = (
            "user.created",
            {"role": after["role"], "branchId": _plain(after["branch"])},
        )
    else:
        changed = sorted(c for c in STAFF_COLUMNS if _plain(before[c]) != _plain(after[c]))
        detail = {"fields": changed} | {
            AUDITED[c]: [_plain(before[c]), _plain(after[c])] for c in changed if c in AUDITED
        }
        action = _staff_action(before, after)
    await audit.record(
        by, action, "user", str(after["id"]), branch_id=after["branch"], detail=detail
    )


def _staff_action(before: dict[str, Any], after: dict[str, Any]) -> str:
    if before["active"] != after["active"]:
        return "user.reactivated" if after["active"] else "user.deactivated"
    if any(_plain(before[c]) != _plain(after[c]) for c in ("role", "branch", "team")):
        return "user.role_changed"
    return "user.updated"


async def _staff_changed(
    before: dict[str, Any], after: dict[str, Any], by: audit.AuditActor = audit.SYSTEM
) -> None:
    """Within the upsert's transaction: make a person's change hold at once.

    Their jobs are locked before anything is logged, as every writer does (jobs, then the
    change log, whose lock is held to the commit), so a phone syncing one of those jobs at
    the same moment waits its turn instead of deadlocking with the deactivation."""
    user_id = str(after["id"])
    deactivated = before["active"] and not after["active"]
    writer = JobWriter(SYSTEM)
    if deactivated:
        await hand_back_jobs(user_id, writer)
        await password_links.spend_links(user_id)
        await push_subscription_queries.delete_user_subscriptions(user_id)
    elif any(before[c] != after[c] for c in SHOWN_WITH_CREWS):
        await _show_again(user_id, writer)
    await writer.commit()
    if any(_plain(before[c]) != _plain(after[c]) for c in ("role", "branch", "team")):
        placement = Placement(after["role"], _plain(after["branch"]), _plain(after["team"]))
        await record_user_changed(user_id, placement)
    if deactivated:
        await auth_service.sign_out_everywhere(user_id, "deactivated", by=by)


async def hand_back_jobs(user_id: str, writer: JobWriter) -> None:
    """A deactivated person taken off the crews of their jobs not started or on hold, locked;
    an assigned job left with nobody goes back to the office as pending (decided in
    ``writer``, logged when it commits)."""
    scope = JobFilter(assignee_id=user_id, statuses=NOT_STARTED)
    for job in (await lock_jobs(await _job_ids(scope), scope)).values():
        crew = [member for member in crew_of(job) if member != user_id]
        values: dict[str, Any] = {"crew": crew}
        if not crew and job["status"] == "assigned":
            values["status"] = "pending"  # one on hold stays on hold: the office decides
        writer.change(job, values, "job.unassigned", about={"reason": "assignee_deactivated"})


async def _show_again(user_id: str, writer: JobWriter) -> None:
    """A person's new name or phone reaches every copy of their unfinished jobs' details
    (cached by version, showing the crew): each moves a version up."""
    scope = JobFilter(assignee_id=user_id, statuses=UNFINISHED)
    for job in (await lock_jobs(await _job_ids(scope), scope)).values():
        writer.change(job, {}, "job.updated")


async def _job_ids(scope: JobFilter) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = await job_queries.feed_page(scope, after, JOB_PAGE)
        ids += [str(job["id"]) for job in page]
        if len(page) < JOB_PAGE:
            return ids
        after = (page[-1]["scheduled_at"], str(page[-1]["id"]))


# Customers ----------------------------------------------------------------------------


async def upsert_customer(
    external_id: str, record: CustomerRecord, expected: int | None = None
) -> Upserted:
    external_id = valid_external_id(external_id)
    async with write_transaction():
        await people_queries.lock_upserts("customer")
        stored = await people_queries.customer_by_external_id(external_id)
        check_version(stored, expected)
        values = {
            "name": record.name,
            "phone": record.phone,
            "line_id": record.line_id,
            "address": record.address,
            "lat": record.location.lat if record.location else None,
            "lng": record.location.lng if record.location else None,
            "branch": await _branch_id(record.branch_external_id, "branchExternalId"),
            "access_notes": record.access_notes,
        }
        saved = await _save("customer", external_id, stored, values)
        if stored is not None and saved.status == "updated":
            await _customer_changed(stored, saved.row)
    shown = {**saved.row, "branch_external_id": record.branch_external_id}
    return Upserted(saved.status, _customer_out(shown))


async def _customer_changed(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Within the upsert's transaction: phones and the board show a customer's name, phone
    and LINE id with each of their jobs, from pages cached by version, so the customer's
    unfinished jobs each move a version up; those not yet under way also go to the new
    address (a job's place is the customer's until someone sets out, unless it has its own)."""
    shown = any(before[c] != after[c] for c in SHOWN_WITH_JOBS)
    moved = any(before[c] != after[c] for c in PLACE)
    if not (shown or moved):
        return
    job_ids = await job_queries.unfinished_job_ids_of_customer(str(after["id"]))
    writer = JobWriter(SYSTEM)
    for job in (await lock_jobs(job_ids)).values():
        follows = moved and job["status"] in NOT_SET_OUT and not job["own_address"]
        writer.change(job, {c: after[c] for c in PLACE} if follows else {}, "job.updated")
    await writer.commit()


async def read_customer(external_id: str) -> dict[str, Any]:
    return _customer_out(_found(await people_queries.customer_by_external_id(external_id)))


# Shared -------------------------------------------------------------------------------


def valid_external_id(raw: str) -> str:
    """``raw`` if it can be an external id; else 422 naming ``externalId``."""
    try:
        return EXTERNAL_ID.validate_python(raw)
    except ValidationError as exc:
        raise ValidationFailed([("externalId", exc.errors()[0]["msg"])]) from exc


async def _save(
    kind: str,
    external_id: str,
    stored: dict[str, Any] | None,
    values: dict[str, Any],
    on_create: dict[str, Any] | None = None,
) -> Saved:
    """Within a write transaction: insert, update what differs (one version up), or leave
    alone; the stored columns after."""
    if stored is None:
        row = {"id": str(uuid.uuid4()), "external_id": external_id, "version": 1}
        row |= values | (on_create or {})
        await people_queries.insert_record(kind, row)
        return Saved("created", row)
    changed = {c: v for c, v in values.items() if _plain(stored[c]) != _plain(v)}
    if not changed:
        return Saved("unchanged", stored)
    changed["version"] = stored["version"] + 1
    await people_queries.update_record(kind, str(stored["id"]), changed)
    return Saved("updated", stored | changed)


async def _branch_id(external_id: str, field: str) -> str:
    branch = await people_queries.branch_by_external_id(external_id)
    if branch is None:
        raise ValidationFailed([(field, "no branch with this external id")])
    return str(branch["id"])


def _found(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise RecordNotFound()
    return row


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    return {"external_id": row["external_id"], "id": str(row["id"]), "version": row["version"]}


Render = Callable[[dict[str, Any]], dict[str, Any]]


def _out(model: type[ApiModel], build: Render) -> Render:
    """The camelCase record of a stored row, as the kind's answer model says."""

    def render(row: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = model(**_stamped(row), **build(row)).model_dump(
            by_alias=True, mode="json"
        )
        return answer

    return render


_branch_out = _out(BranchOut, lambda row: {"name": row["name"]})
_team_out = _out(
    TeamOut, lambda row: {"name": row["name"], "branch_external_id": row["branch_external_id"]}
)
_staff_out = _out(
    StaffOut,
    lambda row: {
        "email": row["email"],
        "name": row["name"],
        "phone": row["phone"],
        "locale": row["locale"],
        "role": row["role"],
        "branch_external_id": row["branch_external_id"],
        "team_external_id": row["team_external_id"],
        "active": row["active"],
        "has_password": row["password_hash"] != "",
    },
)
_customer_out = _out(
    CustomerOut,
    lambda row: {
        "name": row["name"],
        "phone": row["phone"],
        "line_id": row["line_id"],
        "address": row["address"],
        "location": None if row["lat"] is None else Location(lat=row["lat"], lng=row["lng"]),
        "branch_external_id": row["branch_external_id"],
        "access_notes": row["access_notes"],
    },
)
