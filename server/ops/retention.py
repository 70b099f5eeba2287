"""How long we keep things: where people were (check-in and photo coordinates expire, the
visit record and the photo's flags stay) and the change log's history (compacted to each
job's newest change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.changes import queries as change_queries
from server.checkins import queries as check_in_queries
from server.db.engine import write_transaction
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from server.photos import queries as photo_queries
from server.photos.storage.objects import ObjectStore
from server.webhooks.service import unplanned_after


async def purge_locations(
    retention_days: int, store: ObjectStore, now: datetime | None = None
) -> int:
    """Forget where people were more than ``retention_days`` ago: check-ins' coordinates,
    photos' coordinates and their originals (the camera's EXIF keeps the place too). Returns
    how many records were purged. The jobs of purged photos move one version up, so no cached
    job detail goes on showing where a photo was taken."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    async with write_transaction():
        check_ins = await check_in_queries.purge_coordinates(cutoff)
        photos = await photo_queries.purge_evidence(cutoff)
        jobs = await lock_jobs(sorted({str(photo["job"]) for photo in photos}))
        writer = JobWriter(SYSTEM)
        for job in jobs.values():
            writer.change(job, {}, "job.photo_evidence_purged")
        await writer.commit()
    for key in sorted({photo["original_key"] for photo in photos if photo["original_key"]}):
        if not await photo_queries.original_in_use(key):
            await store.delete(key)
    return check_ins + len(photos)


async def compact_change_log(keep_days: int, now: datetime | None = None) -> tuple[int, int]:
    """Drop change-log rows older than ``keep_days`` except each job's newest, so the log
        stays small while a full download (``since=0``) still finds every job. A phone whose
        cursor is older than the new horizon is told to reload; an offline edit against a
        version older than it counts every field as changed by others (a conflict, never a
        silent overwrite). Events not yet planned into webhook deliveries stay, however old (the
    senders may have been stopped): webhooks are at least once. Returns the horizon and the
    number of rows dropped."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    async with write_transaction():
        return await change_queries.compact_changes(cutoff, await unplanned_after())
