"""Thailand's PDPA for the people we hold data on: an admin exports everything held about one
person (section 30, access) and erases it (section 33, erasure).

The export is one JSON document with a section for every table that references the person or
one of their devices (docs/privacy.md lists each table, its section, and what erasure does to
it; a test walks the schema against that list): the person, their devices and their clocks,
the jobs they are or were on, check-ins with coordinates, photos' metadata and place,
remarks, problems, alerts about them, their acts in the change log, their offline changes'
receipts, push subscriptions (the push service's host only, never the keys), the pushes
sent to them and the notifications they sent or were sent, quiet hours, password links
(never their hashes), privacy acknowledgements and the audit events about them, their
devices, or naming them. Exporting is itself audited.

Erasure keeps the work and forgets the person, in one write transaction with its audit event:

- every session ends (tokens refused on every instance from the next request), then their
  device rows, what syncs told of them, push subscriptions, every push delivery to them,
  quiet hours and password links are deleted;
- their check-ins keep the visit (time, job, in or out, the geofence verdict: on site or not
  says nothing about a place beyond the customer's address) and lose latitude, longitude,
  accuracy and distance; the change log's and alerts' copies of the distance go too (an
  alert stays, naming the person by id), and so do the place and the identity in the CRM's
  copies of events still held by the webhook outbox or its log;
- their photos lose their place and distance, and their originals (the camera's EXIF holds
  the place) are deleted from the store once no other photo shares them; the resized copies
  the jobs show were re-encoded without EXIF and stay;
- their offline changes' receipts are deleted (only their devices could replay them);
- name, email and phone become a placeholder (jobs read "Erased person"), the password hash
  is emptied, ``active`` is false and ``erased_at`` is set; they are taken off the crews of
  jobs not started, and every job that shows them moves a version up so no cached copy keeps
  their name or a photo's place.

Kept on purpose: remarks' and problems' text (the job's record for the customer), privacy
acknowledgements (the proof they were told), notifications (the office's message to all its
recipients), the change log's history of the jobs and the audit trail (ids only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from piccolo.columns import Column

from server.audit import service as audit
from server.auth import service as auth_service
from server.core.clock import local_time
from server.db.engine import read_transaction, write_transaction
from server.errors import PersonNotFound, ValidationFailed
from server.integration.people import hand_back_jobs
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from server.photos.storage.objects import ObjectStore
from server.privacy import export_queries as reads
from server.privacy import queries, records

ERASED_NAME = "Erased person"
ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: never delivered
PERSONAL_IN_EVENTS = ("email", "name", "phone")


async def export_person(user_id: str, by: audit.AuditActor) -> dict[str, Any]:
    """Everything held about the person, as one JSON-ready document, read from one snapshot
    with no write lock held (its scans are long: phones' syncs go on meanwhile); given only
    once the export's audit event is committed."""
    async with read_transaction():
        person = await _person(user_id)
        document = {
            "exportedAt": local_time(datetime.now(UTC)),
            "person": records.person_record(person),
            **await _held_about(user_id),
        }
    async with write_transaction():
        await audit.record(by, "user.exported", "user", user_id, branch_id=person["branch"])
    return document


async def _held_about(user_id: str) -> dict[str, Any]:
    """Every row that references the person or one of their devices, by section (each
    table's section is in docs/privacy.md)."""
    devices = await reads.devices(user_id)
    taken_off = await reads.times_taken_off(user_id)
    job_ids = {*await queries.job_ids_of(user_id), *(str(t["job_id"]) for t in taken_off)}
    jobs = await reads.jobs(sorted(job_ids))
    return {
        "devices": [records.device_record(row) for row in devices],
        "deviceClocks": records.rows_of(await reads.device_clocks(user_id)),
        "jobs": records.job_records(jobs, await reads.crew_places(user_id), taken_off),
        "checkIns": [records.check_in_record(row) for row in await reads.check_ins(user_id)],
        "photos": [records.photo_record(row) for row in await reads.photos(user_id)],
        "remarks": records.rows_of(await reads.remarks(user_id)),
        "problems": records.rows_of(await reads.problems(user_id)),
        "alerts": [records.alert_record(row) for row in await reads.alerts(user_id)],
        "changes": [records.change_record(row) for row in await reads.changes_by(user_id)],
        "mutationReceipts": records.receipts_summary(
            await reads.receipt_counts(user_id), await reads.receipts(user_id)
        ),
        "pushSubscriptions": [
            records.subscription_record(row) for row in await reads.push_subscriptions(user_id)
        ],
        "pushDeliveries": records.rows_of(await reads.push_deliveries(user_id)),
        "notifications": records.rows_of(await reads.notifications(user_id)),
        "pushPreference": records.plain(await reads.push_preference(user_id)),
        "passwordLinks": records.rows_of(await reads.password_links(user_id)),
        "privacyAcknowledgements": records.rows_of(await reads.acknowledgements(user_id)),
        "auditEvents": await audit.events_about(user_id, [str(d["id"]) for d in devices]),
    }


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
    identity = placeholder(user_id, now)
    await queries.replace_identity(user_id, identity)
    counts["facts"] += await _forget_in_webhook_copies(user_id, identity)
    return counts | {"photoOriginals": len(keys), "originalKeys": keys}


async def _forget_in_webhook_copies(user_id: str, identity: dict[Column | str, Any]) -> int:
    """Events for the CRM still in the outbox (or its log) that name the person: those not
    yet sent go out without their place or identity, those sent no longer keep them here."""
    changed = 0
    for row in await queries.webhook_bodies_naming(user_id):
        body = scrubbed(row["body"], user_id, identity)
        if body != row["body"]:  # erasing again finds them already forgotten
            await queries.replace_webhook_body(row["id"], body)
            changed += 1
    return changed


def scrubbed(value: Any, user_id: str, identity: dict[Column | str, Any]) -> Any:
    """An event's body with every object about the person emptied of what erasure forgets:
    their staff record's email, name and phone become the placeholder's, and the distance
    and accuracy of their check-ins are cleared."""
    if isinstance(value, list):
        return [scrubbed(item, user_id, identity) for item in value]
    if not isinstance(value, dict):
        return value
    found = {key: scrubbed(item, user_id, identity) for key, item in value.items()}
    if str(found.get("staffId")) == user_id:
        found |= {key: None for key in queries.PLACE_IN_FACTS if key in found}
    if str(found.get("id")) == user_id:
        found |= {key: identity[key] for key in PERSONAL_IN_EVENTS if key in found}
    return found


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
