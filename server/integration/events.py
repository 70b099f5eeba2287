"""The field's facts as the office CRM hears them: which change-log rows are events, of which
type (:data:`EVENT_TYPES`, the one table), and what each event says.

An event's id is its change-log row's id: every change is logged in its own transaction, so
the log is the outbox (no event is lost between a commit and its announcement), the pull feed
and webhooks number events alike, and ids only grow. One row is at most one event.

``data.job`` is the job as the change left it when the log kept that (every change made
through the app does), else as it is when the event is built; its ``version`` always matches
the fields shown, so a receiver can drop an event older than what it holds. Photo links are
signed and expire (``PHOTO_URL_SECONDS``, rounded up to the hour) from when the event is
built: the pull feed signs them afresh on each read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import Field

from server.changes import queries as change_queries
from server.changes.audience import crew_of_row
from server.checkins import queries as check_in_queries
from server.core.clock import local_time
from server.core.schemas import ApiModel
from server.errors import InvalidCursor
from server.jobs import queries as job_queries
from server.jobs.crews import crew_of
from server.jobs.service import checklist_item
from server.photos import queries as photo_queries
from server.photos.links import PhotoLinks

JOB_CREATED, JOB_ASSIGNED = "job.created", "job.assigned"
JOB_STATUS_CHANGED, JOB_COMPLETED = "job.status_changed", "job.completed"
CHECKIN_RECORDED, PHOTO_READY = "checkin.recorded", "photo.ready"
PASSWORD_RESET_REQUESTED = "staff.password_reset_requested"
JOB_ISSUE_REPORTED = "job.issue_reported"
MAX_PAGE = 1000
SCAN_ROWS = 500  # log rows read at a time
MOST_ROWS_SCANNED = 5000  # per request: a page of rare types still answers quickly


def _status(row: dict[str, Any]) -> str | None:
    fields = (row.get("payload") or {}).get("fields") or {}
    status = fields.get("status")
    return status if isinstance(status, str) else None


def _by_a_person(kind: str) -> Callable[[dict[str, Any]], bool]:
    """Rows of ``kind`` made by someone in the app: the CRM's own writes (no actor) are not
    echoed back to it."""
    return lambda row: row["kind"] == kind and row.get("actor_id") is not None


def _photo_ready(row: dict[str, Any]) -> bool:
    photo = (row.get("payload") or {}).get("photo") or {}
    return row["kind"] == "job.photo_processed" and photo.get("status") == "ready"


@dataclass(frozen=True)
class EventType:
    name: str
    about: str
    matches: Callable[[dict[str, Any]], bool]


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        JOB_COMPLETED,
        "A job moved to completed; data.job carries its checklist, photos and check-ins.",
        lambda row: _status(row) == "completed",
    ),
    EventType(
        JOB_CREATED,
        "A dispatcher made a job in the app (jobs the CRM sent are not echoed).",
        _by_a_person("job.created"),
    ),
    EventType(
        JOB_ASSIGNED,
        "A dispatcher assigned or reassigned a job in the app (data.previousAssigneeId).",
        _by_a_person("job.assigned"),
    ),
    EventType(
        JOB_ISSUE_REPORTED,
        "Staff reported a problem at a job (data.issue: reason, note, staff); it is on hold.",
        lambda row: row["kind"] == "job.problem_reported",
    ),
    EventType(
        JOB_STATUS_CHANGED,
        "A job's status changed (en route, in progress, cancelled...), except to completed.",
        lambda row: _status(row) is not None,
    ),
    EventType(
        CHECKIN_RECORDED,
        "Staff checked in or out at a job: time, distance, within the geofence or not.",
        lambda row: row["kind"] == "checkin.recorded",
    ),
    EventType(
        PHOTO_READY,
        "A job photo was processed and can be shown (data.photo with signed links).",
        _photo_ready,
    ),
    EventType(
        PASSWORD_RESET_REQUESTED,
        "Staff asked to reset a forgotten password (data.staff).",
        lambda row: row["kind"] == PASSWORD_RESET_REQUESTED,
    ),
)
TYPE_NAMES: tuple[str, ...] = tuple(t.name for t in EVENT_TYPES)


def event_type(row: dict[str, Any]) -> str | None:
    """The type of the event a change-log row is (the first that matches), or None."""
    return next((t.name for t in EVENT_TYPES if t.matches(row)), None)


@dataclass(frozen=True)
class EventLinks:
    """How events link to photos: signed, expiring, and absolute when ``origin`` is known
    (``https://field.example.com``; empty: a path on this server)."""

    photos: PhotoLinks
    origin: str = ""

    def url(self, key: str, now: float) -> str:
        return self.origin + self.photos.media_url(key, now)


@dataclass
class EventFacts:
    """What a batch of events needs besides its log rows, read once for all of them."""

    links: EventLinks
    now: float
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    checklists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    photos: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    check_ins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ready: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def read(self, typed: list[tuple[dict[str, Any], str]]) -> None:
        self.jobs = await change_queries.jobs_for_events(
            sorted({str(row["job_id"]) for row, _ in typed if row["job_id"] is not None})
        )
        people = {member for job in self.jobs.values() for member in crew_of(job)}
        for row, _ in typed:
            people.update(crew_of_row(row))
            people.update(
                str(value)
                for value in (
                    row["assignee_id"],
                    row["previous_assignee_id"],
                    row["actor_id"],
                    (row["payload"] or {}).get("userId"),
                )
                if value is not None
            )
        self.people = await change_queries.people_for_events(sorted(people))
        completed = sorted({str(row["job_id"]) for row, name in typed if name == JOB_COMPLETED})
        self.checklists = await job_queries.checklists_by_job(completed)
        self.photos = await photo_queries.photos_of_jobs(completed)
        self.check_ins = await check_in_queries.check_ins_of_jobs(completed)
        self.ready = await photo_queries.photos_by_id(
            [str(row["payload"]["photo"]["id"]) for row, name in typed if name == PHOTO_READY]
        )

    def event(self, row: dict[str, Any], name: str) -> dict[str, Any]:
        return {
            "id": str(row["id"]),
            "type": name,
            "occurredAt": local_time(row["occurred_at"]),
            "data": self.data(row, name),
        }

    def data(self, row: dict[str, Any], name: str) -> dict[str, Any]:
        payload = row["payload"] or {}
        if name == PASSWORD_RESET_REQUESTED:
            return {"staff": self.staff(payload.get("userId"))}
        data: dict[str, Any] = {"job": self.job(row)}
        if name == JOB_COMPLETED:
            data["job"].update(self.visit(str(row["job_id"]), row["occurred_at"]))
        elif name == JOB_ASSIGNED:
            previous = payload.get("previousLead", row["previous_assignee_id"])
            data["previousAssigneeId"] = _text(previous)
            data["previousAssigneeExternalId"] = self.external_id(previous)
        elif name == CHECKIN_RECORDED:
            data["checkIn"] = {
                "id": payload.get("checkInId"),
                **{k: payload.get(k) for k in ("type", "time", "distanceMeters")},
                "withinGeofence": payload.get("withinGeofence"),
                "staffId": _text(row["actor_id"]),
                "staffExternalId": self.external_id(row["actor_id"]),
            }
        elif name == PHOTO_READY:
            data["photo"] = self.photo(self.ready.get(str(payload["photo"]["id"])), payload)
        elif name == JOB_ISSUE_REPORTED:
            problem = payload.get("problem") or {}
            data["issue"] = {
                **{k: problem.get(k) for k in ("id", "reason", "note")},
                "staffId": problem.get("reportedBy"),
                "staffExternalId": self.external_id(problem.get("reportedBy")),
            }
        return data

    def job(self, row: dict[str, Any]) -> dict[str, Any]:
        """The job as the change left it (see the module docstring)."""
        job_id = str(row["job_id"])
        now = self.jobs.get(job_id)
        then = (row["payload"] or {}).get("job")
        if now is None:  # gone for good: what the log says of it
            then = then or {}
            assignee = then.get("assigneeId", _text(row["assignee_id"]))
            crew = then.get("assigneeIds", crew_of_row(row))
            return {
                "id": job_id,
                "status": then.get("status"),
                "version": then.get("version"),
                "assigneeId": assignee,
                "assigneeExternalId": self.external_id(assignee),
                "assigneeIds": crew,
                "assigneeExternalIds": self.external_ids(crew),
            }
        shown = then or {
            "status": now["status"],
            "version": now["version"],
            "assigneeId": _text(now["assignee"]),
            "assigneeIds": crew_of(now),
            "scheduledDate": local_time(now["scheduled_at"]),
            "priority": now["priority"],
            "serviceType": now["service_type"],
            "updatedAt": local_time(now["updated_at"]),
        }
        crew = shown.get("assigneeIds", crew_of(now) if then is None else crew_of_row(row))
        return {
            "id": job_id,
            "externalId": now["external_id"],
            "status": shown["status"],
            "version": shown["version"],
            "assigneeId": shown["assigneeId"],
            "assigneeExternalId": self.external_id(shown["assigneeId"]),
            "assigneeIds": crew,
            "assigneeExternalIds": self.external_ids(crew),
            "scheduledDate": shown["scheduledDate"],
            "customerExternalId": now["customer_external_id"],
            "customerName": now["customer_name"],
            "serviceType": shown["serviceType"],
            "priority": shown["priority"],
            "branchId": str(now["branch"]),
            "updatedAt": shown["updatedAt"],
        }

    def visit(self, job_id: str, completed_at: datetime) -> dict[str, Any]:
        """A completed job's proof of work: checklist, ready photos, and the check-ins and
        -outs received by its completion (later ones are events of their own)."""
        photos = [p for p in self.photos.get(job_id, []) if p["status"] == "ready"]
        return {
            "checklist": [
                {k: v for k, v in checklist_item(item).items() if k != "id"}
                for item in self.checklists.get(job_id, [])
            ],
            "photos": [self.photo(photo, {}) for photo in photos],
            "checkIns": [
                {
                    "id": str(check_in["id"]),
                    "type": check_in["type"],
                    "time": local_time(check_in["recorded_time"]),
                    "distanceMeters": _rounded(check_in["distance_meters"]),
                    "withinGeofence": check_in["within_geofence"],
                    "staffId": str(check_in["user_id"]),
                    "staffExternalId": self.external_id(check_in["user_id"]),
                }
                for check_in in self.check_ins.get(job_id, [])
                if check_in["received_at"] <= completed_at
            ],
        }

    def photo(self, row: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        if row is None:  # deleted since: what the log says
            return {"id": str(payload["photo"]["id"]), "kind": payload["photo"].get("kind")}
        variants = {
            v["name"]: v for v in _json_list(row["variants"]) if v["mediaType"] == "image/webp"
        }

        def link(name: str) -> str | None:
            variant = variants.get(name)
            return self.links.url(variant["key"], self.now) if variant else None

        return {
            "id": str(row["id"]),
            "kind": row["kind"],
            "url": link("display"),
            "thumbnailUrl": link("thumb"),
            "takenAt": local_time(row["taken_at"]) if row["taken_at"] else None,
            "width": row["width"],
            "height": row["height"],
        }

    def staff(self, user_id: Any) -> dict[str, Any]:
        person = self.people.get(str(user_id)) or {}
        return {
            "id": _text(user_id),
            "externalId": person.get("external_id"),
            **{key: person.get(key) for key in ("email", "name", "phone", "locale")},
        }

    def external_ids(self, user_ids: list[str]) -> list[str]:
        """The CRM's ids of those it knows among ``user_ids`` (as its job records list them)."""
        return [known for user_id in user_ids if (known := self.external_id(user_id))]

    def external_id(self, user_id: Any) -> str | None:
        person = self.people.get(str(user_id)) if user_id is not None else None
        return person["external_id"] if person else None


async def build_events(
    rows: list[dict[str, Any]], links: EventLinks, now: float
) -> list[dict[str, Any]]:
    """The events among log ``rows`` (oldest first), with a few reads for the whole batch."""
    typed = [(row, name) for row in rows if (name := event_type(row)) is not None]
    if not typed:
        return []
    facts = EventFacts(links, now)
    await facts.read(typed)
    return [facts.event(row, name) for row, name in typed]


async def events_page(
    after: int, limit: int, types: frozenset[str], links: EventLinks, now: float
) -> dict[str, Any]:
    """Up to ``limit`` events after ``after`` of ``types`` (all when empty), in log order:
    ``{events, next, hasMore}``. ``next`` passes the rows read, events or not, so a filtered
    feed moves on; ``hasMore`` says the log holds rows after it."""
    head = await change_queries.newest_change_id()
    if after > head:
        raise InvalidCursor("after is ahead of the event feed; start again from 0.")
    wanted: list[dict[str, Any]] = []
    cursor, scanned = after, 0
    while len(wanted) < limit and scanned < MOST_ROWS_SCANNED and cursor < head:
        rows = await change_queries.log_rows_after(cursor, SCAN_ROWS)
        for row in rows:
            if int(row["id"]) > head or len(wanted) == limit:
                break
            cursor, scanned = int(row["id"]), scanned + 1
            name = event_type(row)
            if name is not None and (not types or name in types):
                wanted.append(row)
        if len(rows) < SCAN_ROWS:
            break
    events = await build_events(wanted, links, now)
    return {"events": events, "next": str(cursor), "hasMore": cursor < head}


def parse_types(raw: str) -> frozenset[str]:
    """``types=job.completed,photo.ready``: ValueError names the unknown ones."""
    wanted = frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = sorted(wanted - set(TYPE_NAMES))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    return wanted


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _json_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):  # PostgreSQL's json comes back as text unless asked
        parsed: list[dict[str, Any]] = orjson.loads(value)
        return parsed
    return list(value or [])


class EventsParams(ApiModel):
    after: int = Field(0, ge=0, description="An event id from an earlier answer (its `next`).")
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    types: str = Field("", description="Comma-separated event types; empty: every type.")


class EventOut(ApiModel):
    id: str = Field(description="The change-log id: ordered, unique, the same in webhooks.")
    type: str
    occurred_at: str = Field(description="RFC 3339, +07:00.")
    data: dict[str, Any]


class EventsPage(ApiModel):
    events: list[EventOut]
    next: str = Field(description="Pass as `after` for the next page (it passes filtered rows).")
    has_more: bool
