"""Drill: the app process is killed (SIGKILL) in the middle of a phone's sync batch. The
phone sends the same batch again to a fresh process, and every mutation is applied exactly
once: none lost, none doubled, in the jobs, their checklists, the change log and the
receipts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from server.changes.queries import changes_after, newest_change_id
from server.db.engine import CHANGE_LOG_LOCK_KEY
from server.jobs.queries import checklist_for
from server.sync.queries import receipts_for
from tests.drills.services import PrivatePostgres, stop_app
from tests.servers import sign_in, start_instance, wait_for
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.drill

JOBS = 100  # four mutations each: a 400-mutation batch
APP_SETTINGS = {"PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"}
WAITING_FOR_LOG_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1"
)


def offline_work(job_ids: list[str], first_items: dict[str, str]) -> dict[str, Any]:
    """A day's changes made offline: each job walked to in progress, ticked and annotated."""
    now = datetime.now(UTC).isoformat()
    updates = []
    for job_id in job_ids:
        for change in (
            {"status": "en_route"},
            {"status": "in_progress"},
            {"checklist": [{"itemId": first_items[job_id], "done": True}]},
            {"notes": f"เสร็จแล้ว · done {job_id[:8]}"},
        ):
            updates.append(
                {"mutationId": str(uuid.uuid4()), "jobId": job_id, "baseVersion": 1}
                | {"clientTimestamp": now, **change}
            )
    return {"deviceId": "drill-phone", "deviceTime": now, "pendingUpdates": updates}


@asynccontextmanager
async def app_process(
    database_url: str, tmp_path: Path, name: str
) -> AsyncIterator[tuple[subprocess.Popen[bytes], httpx.AsyncClient]]:
    process, base = await start_instance(
        database_url, tmp_path / name, tmp_path / f"{name}.log", APP_SETTINGS
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield process, client
    finally:
        stop_app(process)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the server and its worker (its own process group): no cleanup at all."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
async def test_a_batch_cut_by_sigkill_is_applied_exactly_once_on_retry(
    drill_postgres: PrivatePostgres, drill_world: World, tmp_path: Path, moment: str
) -> None:
    staff = await add_staff(drill_world)
    job_ids = [job["id"] for job in await add_jobs(staff, JOBS)]
    first_items = {job_id: str((await checklist_for(job_id))[0]["id"]) for job_id in job_ids}
    batch = offline_work(job_ids, first_items)
    mutation_ids = [u["mutationId"] for u in batch["pendingUpdates"]]
    before = await newest_change_id()
    holder = await asyncpg.connect(drill_postgres.url)
    try:
        async with app_process(drill_postgres.url, tmp_path, "first") as (process, client):
            headers = await sign_in(client, staff)
            if moment == "before_commit":
                # The batch's jobs and checklists are written, but its change-log append
                # waits for this lock: the kill lands inside the open transaction.
                await holder.execute("SELECT pg_advisory_lock($1)", CHANGE_LOG_LOCK_KEY)
            sending = asyncio.create_task(
                client.post("/api/mobile/sync", json=batch, headers=headers)
            )

            async def batch_waits_for_the_log() -> bool:
                return bool(await holder.fetchval(WAITING_FOR_LOG_LOCK, CHANGE_LOG_LOCK_KEY))

            async def batch_committed() -> bool:
                return len(await receipts_for(staff["id"], mutation_ids)) == len(mutation_ids)

            if moment == "before_commit":
                await wait_for(batch_waits_for_the_log, "the batch to be mid-transaction", 20)
            else:
                await wait_for(batch_committed, "the batch to commit", 20)
            kill_hard(process)
            # After the commit the answer may or may not have reached the phone first.
            with contextlib.suppress(httpx.TransportError):
                answer = await sending
                assert moment == "after_commit", answer.text
        if moment == "before_commit":
            await holder.execute("SELECT pg_advisory_unlock($1)", CHANGE_LOG_LOCK_KEY)

        async with app_process(drill_postgres.url, tmp_path, "fresh") as (_, client):
            retried = await client.post("/api/mobile/sync", json=batch, headers=headers)
            again = await client.post("/api/mobile/sync", json=batch, headers=headers)
            receipts = await client.get(
                "/api/mobile/sync/receipts", params={"limit": 1000}, headers=headers
            )
            pulled = await client.get(
                "/api/mobile/sync/changes", params={"since": 0, "limit": 500}, headers=headers
            )
    finally:
        await holder.close()

    assert retried.status_code == 200, retried.text
    assert retried.json()["synced"] == mutation_ids
    assert retried.json()["conflicts"] == retried.json()["failed"] == []
    assert again.json() == retried.json(), "a third copy changes nothing"
    assert [r["mutationId"] for r in receipts.json()["receipts"]] == mutation_ids
    assert {r["outcome"] for r in receipts.json()["receipts"]} == {"applied"}
    logged = [
        row for row in await changes_after(before, 10_000) if str(row["job_id"]) in first_items
    ]
    assert len(logged) == len(mutation_ids), "one change-log row per mutation, none doubled"
    jobs = pulled.json()["changes"]
    assert sorted(job["id"] for job in jobs) == sorted(job_ids)
    for job in jobs:
        assert (job["status"], job["version"]) == ("in_progress", 5), "each step once"
        assert job["notes"] == f"เสร็จแล้ว · done {job['id'][:8]}"
        assert [item["done"] for item in job["checklistItems"]] == [True, False, False, False]
