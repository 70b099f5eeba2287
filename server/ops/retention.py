"""How long we keep things: where people were (check-in and photo coordinates expire, the
visit record and the photo's flags stay), the change log's history (compacted to each job's
newest change) and the audit trail (``AUDIT_RETENTION_DAYS``).

Each purge is audited as the system's act, in its own transaction. The product runs all
three daily at ``RETENTION_RUN_AT`` (:func:`retention_jobs`, on ``core/schedule.py``), once
across instances; the commands ``purge-locations``, ``compact-changes`` and ``purge-audit``
run the same jobs by hand (:func:`run_by_hand`), and their successes count as the schedule's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.audit import service as audit
from server.changes import queries as change_queries
from server.checkins import queries as check_in_queries
from server.config import Settings
from server.core.schedule import DailyAt, ScheduledJob
from server.db.engine import write_transaction
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from server.ops.queries import record_run_by_hand
from server.photos import queries as photo_queries
from server.photos.storage.objects import ObjectStore
from server.webhooks.service import unplanned_after

PURGE_LOCATIONS = "purge-locations"
COMPACT_CHANGES = "compact-changes"
PURGE_AUDIT = "purge-audit"
RETENTION_JOBS = (PURGE_LOCATIONS, COMPACT_CHANGES, PURGE_AUDIT)


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
        detail = {"checkIns": check_ins, "photos": len(photos), "days": retention_days}
        await _audit(PURGE_LOCATIONS, detail)
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
        horizon, dropped = await change_queries.compact_changes(cutoff, await unplanned_after())
        await _audit(COMPACT_CHANGES, {"horizon": horizon, "dropped": dropped, "days": keep_days})
    return horizon, dropped


async def purge_audit_trail(retention_days: int, now: datetime | None = None) -> int:
    """Drop audit events older than ``retention_days`` (the trail's only delete); how many.
    The horizon moves first, in its own transaction (the database deletes nothing younger).
    The purge's own event is younger than any it drops, so the trail says it happened."""
    cutoff = await audit.advance_purge_horizon(retention_days, now)
    async with write_transaction():
        dropped = await audit.purge_expired(cutoff)
        await _audit(PURGE_AUDIT, {"dropped": dropped, "days": retention_days})
    return dropped


def retention_jobs(settings: Settings, store: ObjectStore) -> list[ScheduledJob]:
    """The three purges, each daily at ``RETENTION_RUN_AT`` (Bangkok time)."""
    when = DailyAt.parse(settings.retention_run_at)

    async def locations(now: datetime) -> dict[str, Any]:
        return {"purged": await purge_locations(settings.location_retention_days, store, now)}

    async def changes(now: datetime) -> dict[str, Any]:
        horizon, dropped = await compact_change_log(settings.change_log_retention_days, now)
        return {"horizon": horizon, "dropped": dropped}

    async def trail(now: datetime) -> dict[str, Any]:
        return {"dropped": await purge_audit_trail(settings.audit_retention_days, now)}

    return [
        ScheduledJob(PURGE_LOCATIONS, when, locations),
        ScheduledJob(COMPACT_CHANGES, when, changes),
        ScheduledJob(PURGE_AUDIT, when, trail),
    ]


async def run_by_hand(name: str, settings: Settings, store: ObjectStore) -> dict[str, Any]:
    """Run one retention job now, as its command does (from cron, with the schedule off), and
    record its success on the job's ``scheduled_run`` row as a scheduled run would, so
    ``/metrics`` and its alerts see it. A failure raises (the command exits non-zero)."""
    job = next(job for job in retention_jobs(settings, store) if job.name == name)
    now = datetime.now(UTC)
    result = {"ok": True, **await job.run(now)}
    await record_run_by_hand(name, now, job.when.next_after(now), result)
    return result


async def _audit(name: str, detail: dict[str, Any]) -> None:
    await audit.record(audit.SYSTEM, f"retention.{name}", "run", name, detail=detail)
