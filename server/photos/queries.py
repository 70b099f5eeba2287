"""Queries on job photos, including the processing queue kept in the same table.

The queue is claimed under a lease: on PostgreSQL the next due photo is taken with ``FOR UPDATE
SKIP LOCKED`` (several instances never take the same one); SQLite's one writer does the same.
A completion or a retry names the lease it holds, so a worker whose lease lapsed (it was
killed, or too slow) cannot overwrite the work of the one that took the photo up again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.columns import Column

from server.db.engine import current_engine
from server.db.tables import CheckIn, DeviceSync, Job, Photo

QUEUED, PROCESSING, READY, FAILED = "queued", "processing", "ready", "failed"
REJECTED = "rejected"  # processing found the image bad: final; last_error is "code: detail"
AWAITING_UPLOAD, DUPLICATE = "awaiting_upload", "duplicate"
NOT_SHOWN = (AWAITING_UPLOAD, DUPLICATE)


async def insert_photo(row: dict[str, Any]) -> dict[str, Any]:
    """Insert unless a photo with that id exists (a racing retry); the row as stored."""
    await Photo.insert(Photo(**row)).on_conflict(action="DO NOTHING").run()
    stored = await get_photo(row["id"])
    assert stored is not None
    return stored


async def get_photo(photo_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await Photo.select().where(Photo.id == photo_id).first().run()
    return row


async def photos_by_id(photo_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not photo_ids:
        return {}
    rows = await Photo.select().where(Photo.id.is_in(photo_ids)).run()
    return {str(row["id"]): row for row in rows}


async def photo_with_content(job_id: str, content_hash: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Photo.select()
        .where((Photo.job == job_id) & (Photo.content_hash == content_hash))
        .first()
        .run()
    )
    return row


async def job_photos(job_id: str) -> list[dict[str, Any]]:
    """A job's photos that have their bytes (a row still waiting for them shows nothing)."""
    return (await photos_of_jobs([job_id]))[job_id]


async def photos_of_jobs(job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Several jobs' photos at once (as :func:`job_photos`), by job id."""
    by_job: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return by_job
    rows = (
        await Photo.select()
        .where(Photo.job.is_in(job_ids) & Photo.status.not_in(list(NOT_SHOWN)))
        .order_by(Photo.created_at)
        .order_by(Photo.id)
        .output(load_json=True)
        .run()
    )
    for row in rows:
        by_job[str(row["job"])].append(row)
    return by_job


async def store_upload(photo_id: str, values: dict[Column | str, Any]) -> bool:
    """Fill a photo still awaiting its bytes and queue it; False if it no longer awaits."""
    rows = (
        await Photo.update({**values, "status": QUEUED})
        .where((Photo.id == photo_id) & (Photo.status == AWAITING_UPLOAD))
        .returning(Photo.id)
        .run()
    )
    return bool(rows)


async def mark_duplicate(photo_id: str, twin_id: str) -> None:
    """A photo whose bytes are already the job's: it stands for that one from now on."""
    await (
        Photo.update({Photo.status: DUPLICATE, Photo.duplicate_of: twin_id})
        .where((Photo.id == photo_id) & (Photo.status == AWAITING_UPLOAD))
        .run()
    )


async def requeue_failed(photo_id: str, now: datetime) -> None:
    """A failed photo sent again: try it afresh."""
    await (
        Photo.update(
            {
                Photo.status: QUEUED,
                Photo.attempts: 0,
                Photo.next_attempt_at: now,
                Photo.last_error: "",
            }
        )
        .where((Photo.id == photo_id) & (Photo.status == FAILED))
        .run()
    )


async def attach(photo_ids: list[str], at: datetime) -> None:
    if photo_ids:
        await (
            Photo.update({Photo.attached_at: at})
            .where(Photo.id.is_in(photo_ids) & Photo.attached_at.is_null())
            .run()
        )


async def any_due(now: datetime) -> bool:
    return bool(await Photo.exists().where(_due(now)).run())


async def job_place(job_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Job.select(Job.lat, Job.lng).where(Job.id == job_id).first().run()
    )
    return row


async def claim_next(
    owner: str, now: datetime, lease_until: datetime, due_if_lapsed: datetime
) -> dict[str, Any] | None:
    """Within a write transaction: take the next due photo (queued and due, or processing
    under a lapsed lease) for ``owner`` until ``lease_until``. Should this claim lapse too
    (its processor died), the photo is due again no sooner than ``due_if_lapsed``."""
    query = Photo.select(Photo.id).where(_due(now)).order_by(Photo.next_attempt_at).limit(1)
    if current_engine().engine_type == "postgres":
        query = query.lock_rows("UPDATE", skip_locked=True, of=(Photo,))
    picked = await query.first().run()
    if picked is None:
        return None
    rows: list[dict[str, Any]] = (
        await Photo.update(
            {
                Photo.status: PROCESSING,
                Photo.lease_owner: owner,
                Photo.lease_until: lease_until,
                Photo.next_attempt_at: due_if_lapsed,
                Photo.attempts: Photo.attempts + 1,
            }
        )
        .where(Photo.id == picked["id"])
        .returning(*Photo.all_columns())
        .run()
    )
    return rows[0]


async def renew_lease(photo_id: str, owner: str, until: datetime) -> bool:
    rows = (
        await Photo.update({Photo.lease_until: until})
        .where((Photo.id == photo_id) & (Photo.lease_owner == owner))
        .returning(Photo.id)
        .run()
    )
    return bool(rows)


async def finish(photo_id: str, owner: str, values: dict[Column | str, Any]) -> bool:
    """Within a write transaction: settle a claimed photo; False if ``owner`` lost its lease."""
    rows = (
        await Photo.update({**values, "lease_owner": None, "lease_until": None})
        .where((Photo.id == photo_id) & (Photo.status == PROCESSING) & (Photo.lease_owner == owner))
        .returning(Photo.id)
        .run()
    )
    return bool(rows)


async def visits(job_id: str, user_id: str) -> list[dict[str, Any]]:
    """The uploader's check-ins and check-outs at the job, in time order."""
    rows: list[dict[str, Any]] = (
        await CheckIn.select(CheckIn.type, CheckIn.recorded_time)
        .where((CheckIn.job == job_id) & (CheckIn.user_id == user_id))
        .order_by(CheckIn.recorded_time)
        .run()
    )
    return rows


async def clock_skew(device_id: str | None) -> float | None:
    if device_id is None:
        return None
    row = (
        await DeviceSync.select(DeviceSync.clock_skew_seconds)
        .where(DeviceSync.device_id == device_id)
        .first()
        .run()
    )
    return None if row is None else row["clock_skew_seconds"]


async def purge_evidence(uploaded_before: datetime) -> list[dict[str, Any]]:
    """Within a write transaction: forget where photos uploaded before ``uploaded_before``
    were taken, and let go of their originals (whose EXIF says it too). Returns each such
    photo's id, job and former original key; the variants, capture time and flags stay."""
    expired = (Photo.uploaded_at < uploaded_before) & (
        Photo.lat.is_not_null() | Photo.original_key.is_not_null()
    )
    rows: list[dict[str, Any]] = (
        await Photo.select(Photo.id, Photo.job, Photo.original_key).where(expired).run()
    )
    if rows:
        await (
            Photo.update({Photo.lat: None, Photo.lng: None, Photo.original_key: None})
            .where(Photo.id.is_in([row["id"] for row in rows]))
            .run()
        )
    return rows


async def original_in_use(key: str) -> bool:
    """Another photo (of another job, say) with the same bytes still keeps this original."""
    return bool(await Photo.exists().where(Photo.original_key == key).run())


def _due(now: datetime) -> Any:
    """Queued and due, or claimed under a lease that has lapsed (and past its backoff)."""
    lapsed = (Photo.status == PROCESSING) & (Photo.lease_until < now)
    return ((Photo.status == QUEUED) | lapsed) & (Photo.next_attempt_at <= now)
