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
    rows: list[dict[str, Any]] = (
        await CheckIn.select().where(CheckIn.job == job_id).order_by(CheckIn.received_at).run()
    )
    return rows
