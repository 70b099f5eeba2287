"""Thailand's PDPA for the people we hold data on: an admin exports everything held about one
person (section 30, access) and erases it (section 33, erasure).

The export is one JSON document: the person, their devices, check-ins with coordinates, their
photos' metadata and place, push subscriptions (the push service's host only, never the keys),
privacy acknowledgements, remarks, problems, a summary of their offline changes and the audit
events about them. Exporting is itself audited.

Erasure keeps the work and forgets the person, in one write transaction with its audit event:

- every session ends (tokens refused on every instance from the next request), then their
  device rows, push subscriptions, queued pushes, quiet hours and password links are deleted;
- their check-ins keep the visit (time, job, in or out, the geofence verdict: on site or not
  says nothing about a place beyond the customer's address) and lose latitude, longitude,
  accuracy and distance; the change log's and alerts' copies of the distance go too;
- their photos lose their place and distance, and their originals (the camera's EXIF holds
  the place) are deleted from the store once no other photo shares them; the resized copies
  the jobs show were re-encoded without EXIF and stay;
- their offline changes' receipts are deleted (only their devices could replay them);
- name, email and phone become a placeholder (jobs read "Erased person"), the password hash
  is emptied, ``active`` is false and ``erased_at`` is set; they are taken off the crews of
  jobs not started, and every job that shows them moves a version up so no cached copy keeps
  their name or a photo's place.

Kept on purpose: remarks' and problems' text (the job's record for the customer), privacy
acknowledgements (the proof they were told) and the audit trail (ids only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from piccolo.columns import Column

from server.audit import service as audit
from server.auth import service as auth_service
from server.core.clock import local_time
from server.db.engine import write_transaction
from server.errors import PersonNotFound, ValidationFailed
from server.integration.people import hand_back_jobs
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from server.photos.storage.objects import ObjectStore
from server.privacy import queries

ERASED_NAME = "Erased person"
ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: never delivered


async def export_person(user_id: str, by: audit.AuditActor) -> dict[str, Any]:
    """Everything held about the person, as one JSON-ready document."""
    async with write_transaction():
        person = await _person(user_id)
        document = {
            "exportedAt": local_time(datetime.now(UTC)),
            "person": person_record(person),
            "devices": [device_record(row) for row in await queries.devices(user_id)],
            "checkIns": [check_in_record(row) for row in await queries.check_ins(user_id)],
            "photos": [photo_record(row) for row in await queries.photos(user_id)],
            "pushSubscriptions": [
                subscription_record(row) for row in await queries.push_subscriptions(user_id)
            ],
            "pushPreference": _plain(await queries.push_preference(user_id)),
            "privacyAcknowledgements": _rows(await queries.acknowledgements(user_id)),
            "remarks": _rows(await queries.remarks(user_id)),
            "problems": _rows(await queries.problems(user_id)),
            "mutationReceipts": receipts_summary(await queries.receipt_counts(user_id)),
            "auditEvents": await audit.events_about(user_id),
        }
        await audit.record(by, "user.exported", "user", user_id, branch_id=person["branch"])
    return document


async def erase_person(user_id: str, by: audit.AuditActor, store: ObjectStore) -> dict[str, Any]:
    """Erase what is held about the person (see the module's docstring); what was erased,
    counted. Erasing again finds nothing more to erase and says so."""
    if by.id == user_id:
        raise ValidationFailed([("id", "you cannot erase yourself")])
    now = datetime.now(UTC)
    async with write_transaction():
        person = await _person(user_id)
        erased = await _erase_within(user_id, by, now)
        await audit.record(
            by, "user.erased", "user", user_id, branch_id=person["branch"], detail=erased
        )
    for key in erased.pop("originalKeys"):
        if not await queries.original_in_use(key):
            await store.delete(key)
    return {"erasedAt": local_time(now), "erased": erased}


async def _erase_within(user_id: str, by: audit.AuditActor, now: datetime) -> dict[str, Any]:
    """Their jobs are locked before anything is logged, as every writer does (jobs, then the
    change log), so a phone syncing one of them waits its turn instead of deadlocking."""
    writer = JobWriter(SYSTEM, now)
    await hand_back_jobs(user_id, writer)
    changed = {str(row["job_id"]) for row in writer.rows}
    for job in (await lock_jobs(await queries.job_ids_of(user_id))).values():
        if str(job["id"]) not in changed:
            writer.change(job, {}, "job.updated")
    await writer.commit()
    await auth_service.sign_out_everywhere(user_id, "erased", by=by)
    counts = {
        "checkIns": await queries.clear_check_in_places(user_id),
        "facts": await queries.clear_places_in_facts(user_id),
        "devices": await queries.delete_sessions(user_id),
        "mutationReceipts": await queries.delete_receipts(user_id),
        "jobs": len(writer.rows),
    }
    keys = await queries.clear_photo_places(user_id)
    await queries.replace_identity(user_id, placeholder(user_id, now))
    return counts | {"photoOriginals": len(keys), "originalKeys": keys}


def placeholder(user_id: str, now: datetime) -> dict[Column | str, Any]:
    """What stands in for an erased person: jobs still name someone, nobody can sign in."""
    return {
        "name": ERASED_NAME,
        "email": f"erased-{user_id}@{ERASED_EMAIL_DOMAIN}",
        "phone": "",
        "password_hash": "",
        "active": False,
        "erased_at": now,
    }


async def _person(user_id: str) -> dict[str, Any]:
    person = await queries.person(user_id)
    if person is None:
        raise PersonNotFound()
    return person


def person_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "externalId": row["external_id"],
        "email": row["email"],
        "name": row["name"],
        "phone": row["phone"],
        "role": row["role"],
        "branchId": _text(row["branch"]),
        "teamId": _text(row["team"]),
        "locale": row["locale"],
        "active": row["active"],
        "hasPassword": row["password_hash"] != "",
        "createdAt": _when(row["created_at"]),
        "erasedAt": _when(row["erased_at"]),
    }


def device_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "clientId": row["client_id"],
        "name": row["name"],
        "platform": row["platform"],
        "createdAt": _when(row["created_at"]),
        "lastSeenAt": _when(row["last_seen_at"]),
        "revokedAt": _when(row["revoked_at"]),
        "revokedReason": row["revoked_reason"],
    }


def check_in_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "jobId": str(row["job"]),
        "deviceId": _text(row["device_id"]),
        "type": row["type"],
        "location": None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]},
        "accuracy": row["accuracy"],
        "distanceMeters": row["distance_meters"],
        "withinGeofence": row["within_geofence"],
        "locationMissing": bool(row["location_missing"]),
        "deviceTime": _when(row["device_time"]),
        "recordedTime": _when(row["recorded_time"]),
        "receivedAt": _when(row["received_at"]),
    }


def photo_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "jobId": str(row["job"]),
        "deviceId": _text(row["device_id"]),
        "kind": row["kind"],
        "contentType": row["content_type"],
        "status": row["status"],
        "sizeBytes": row["size_bytes"],
        "width": row["width"],
        "height": row["height"],
        "takenAt": _when(row["taken_at"]),
        "location": None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]},
        "distanceMeters": row["distance_meters"],
        "flags": list(row["flags"]),
        "createdAt": _when(row["created_at"]),
        "uploadedAt": _when(row["uploaded_at"]),
    }


def subscription_record(row: dict[str, Any]) -> dict[str, Any]:
    """A browser's Web Push subscription: the push service's host, never the endpoint's
    secret path or the encryption keys."""
    return {
        "id": str(row["id"]),
        "deviceId": _text(row["device_id"]),
        "pushService": urlsplit(row["endpoint"]).hostname or "",
        "createdAt": _when(row["created_at"]),
        "lastSeenAt": _when(row["last_seen_at"]),
    }


def receipts_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], {})[row["outcome"]] = int(row["total"])
    firsts = [_moment(row["first"]) for row in rows if row["first"] is not None]
    lasts = [_moment(row["last"]) for row in rows if row["last"] is not None]
    return {
        "total": sum(int(row["total"]) for row in rows),
        "byKind": by_kind,
        "first": _when(min(firsts)) if firsts else None,
        "last": _when(max(lasts)) if lasts else None,
    }


def _moment(value: datetime | str) -> datetime:
    """A time from an aggregate (SQLite answers MIN and MAX of a time as text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_plain(row) or {} for row in rows]


def _plain(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored row as JSON values: ids as text, times in the company's zone."""
    if row is None:
        return None
    return {_camel(name): _value(value) for name, value in row.items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return local_time(value)
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _when(value: datetime | None) -> str | None:
    return None if value is None else local_time(value)
