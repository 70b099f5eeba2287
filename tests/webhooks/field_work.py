"""Work in the field as the CRM's events report it: a job checked into, ticked, photographed,
completed and checked out of, through the same routes the phones use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from server.changes import queries as change_queries
from server.context import AppContext
from server.db.engine import write_transaction
from server.db.tables import Photo
from server.jobs.writes import Actor, JobWriter, lock_jobs
from tests.phones import Phone

READY_VARIANTS = [
    {"name": name, "mediaType": "image/webp", "key": f"variants/ab/{name}-{uuid.uuid4()}.webp"}
    | {"width": width, "height": width}
    for name, width in (("thumb", 320), ("display", 1600))
]


async def head() -> int:
    """The newest event id: what a test reads events after."""
    return await change_queries.newest_change_id()


async def add_ready_photo(job_id: str, user_id: str) -> str:
    """A photo of the job, processed and ready, announced as the photo worker announces it."""
    photo_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await Photo.insert(
        Photo(
            id=photo_id,
            job=job_id,
            user_id=user_id,
            kind="after",
            content_type="image/jpeg",
            status="ready",
            upload_expires_at=now,
            variants=READY_VARIANTS,
            taken_at=now,
            width=1600,
            height=1600,
        )
    ).run()
    async with write_transaction():
        job = (await lock_jobs([job_id]))[job_id]
        writer = JobWriter(Actor())
        about = {"photo": {"id": photo_id, "kind": "after", "status": "ready"}}
        writer.change(job, {}, "job.photo_processed", about=about)
        await writer.commit()
    return photo_id


async def finish_job(
    client: httpx.AsyncClient, ctx: AppContext, staff: dict[str, Any], job_id: str
) -> None:
    """Check in (the job goes in progress), tick the first item, complete, check out."""
    phone = Phone(client, ctx, staff)
    await phone.sync(check_ins=[phone.check_in(job_id)])
    detail = await phone.job(job_id)
    version = detail["job"]["version"]
    first = detail["checklistItems"][0]["id"]
    await phone.sync(phone.update(job_id, version, checklist=[{"itemId": first, "done": True}]))
    await phone.sync(phone.update(job_id, version + 1, status="completed"))
    await phone.sync(check_ins=[phone.check_in(job_id, "out")])
