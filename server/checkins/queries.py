"""Queries on check-ins: the append-only proof of visits, and the purge of their coordinates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.tables import CheckIn
from server.jobs.queries import insert_in_chunks


async def insert_check_ins(rows: list[dict[str, Any]]) -> None:
    await insert_in_chunks(CheckIn, rows)


async def purge_coordinates(received_before: datetime) -> int:
    """Forget where check-ins received before ``received_before`` were made; the visit, its
    times, distance and geofence verdict stay. Returns how many were purged."""
    rows = (
        await CheckIn.update({CheckIn.lat: None, CheckIn.lng: None, CheckIn.accuracy: None})
        .where((CheckIn.received_at < received_before) & CheckIn.lat.is_not_null())
        .returning(CheckIn.id)
        .run()
    )
    return len(rows)


async def check_ins_of(job_id: str) -> list[dict[str, Any]]:
    return (await check_ins_of_jobs([job_id]))[job_id]


async def check_ins_of_jobs(job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Several jobs' check-ins at once, by job id, each job's in the order received."""
    by_job: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return by_job
    rows = (
        await CheckIn.select().where(CheckIn.job.is_in(job_ids)).order_by(CheckIn.received_at).run()
    )
    for row in rows:
        by_job[str(row["job"])].append(row)
    return by_job
