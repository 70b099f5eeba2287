"""Drills for the change log's head (server/changes/publish.py): a writer killed between its
commit and publishing its rows has them published by another worker, and a PostgreSQL
restart under racing writers costs a reader resuming "after N" no row, nor a repeat."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.changes.publish import publish_visible
from server.changes.queries import changes_after, newest_change_id, newest_id_through
from server.jobs.queries import job_scope
from server.jobs.writes import update_job
from tests.drills.services import PrivatePostgres, stop_app
from tests.servers import sign_in, start_instance, wait_for
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.drill

APP_SETTINGS = {"PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"}
DIES_AFTER_COMMIT = """
import asyncio, os, signal, sys
from pathlib import Path

from server.db.engine import after_commit, engine_for, write_transaction
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs
from tests.conftest import make_settings


async def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(url: str, job_id: str, data_dir: str) -> None:
    async with engine_for(make_settings(url, Path(data_dir))):
        async with write_transaction():
            after_commit(die)  # first in line: before the writer publishes its own rows
            job = (await lock_jobs([job_id]))[job_id]
            writer = JobWriter(SYSTEM)
            writer.change(job, {"notes": "left by a writer that died"}, "job.updated")
            await writer.commit()


asyncio.run(main(*sys.argv[1:]))
"""


async def test_rows_of_a_writer_killed_after_its_commit_are_published_by_another(
    drill_postgres: PrivatePostgres, drill_world: World, tmp_path: Path
) -> None:
    staff = await add_staff(drill_world)
    (job,) = await add_jobs(staff, 1)
    before = await newest_change_id()
    process, base = await start_instance(
        drill_postgres.url, tmp_path / "other", tmp_path / "other.log", APP_SETTINGS
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            headers = await sign_in(client, staff, "drill-publish")
            writer = await asyncio.create_subprocess_exec(
                *(sys.executable, "-c", DIES_AFTER_COMMIT, drill_postgres.url, job["id"]),
                str(tmp_path / "writer"),
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(writer.communicate(), 60)
            assert writer.returncode == -9, stderr.decode()[-2000:]
            assert (await job_scope(job["id"]) or {})["version"] == 2, "it committed"

            async def published() -> bool:
                answer = await client.get(
                    "/api/mobile/sync/changes", params={"since": before}, headers=headers
                )
                return [j["notes"] for j in answer.json()["changes"]] == [
                    "left by a writer that died"
                ]

            await wait_for(published, "the other instance to publish the dead writer's row")
    finally:
        stop_app(process)
    rows = await changes_after(before, 10)
    assert [str(row["job_id"]) for row in rows] == [job["id"]]


class PatientReader:
    """Pages the log "after N" until told to stop, riding out the database's absence."""

    def __init__(self, start: int) -> None:
        self.last = start
        self.seen: list[int] = []
        self.done = asyncio.Event()

    async def run(self) -> None:
        while True:
            finished = self.done.is_set()
            try:
                rows = await changes_after(self.last, 5)
            except Exception:
                await asyncio.sleep(0.05)
                continue
            self.seen += [int(row["id"]) for row in rows]
            self.last = self.seen[-1] if self.seen else self.last
            if finished and not rows:
                return
            await asyncio.sleep(0.005)


async def test_a_postgres_restart_under_racing_writers_skips_and_repeats_nothing(
    drill_postgres: PrivatePostgres, drill_world: World
) -> None:
    staff = await add_staff(drill_world)
    jobs = await add_jobs(staff, 6)
    start = await newest_change_id()
    reader = PatientReader(start)
    reading = asyncio.create_task(reader.run())
    stop = asyncio.Event()

    async def writer(job: dict[str, Any]) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with contextlib.suppress(Exception):  # the database is away: try again
                await update_job(job["id"], {"notes": f"note {n}"}, "job.updated")
            await asyncio.sleep(0.01)

    writing = [asyncio.create_task(writer(job)) for job in jobs]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(drill_postgres.stop)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(drill_postgres.start)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*writing)

    async def settled() -> bool:  # what any worker's mirror does when it wakes
        with contextlib.suppress(Exception):
            return await publish_visible() == await newest_id_through(2**62)
        return False

    await wait_for(settled, "the head to pass every committed row")
    reader.done.set()
    await reading

    committed = [int(row["id"]) for row in await changes_after(start, 100_000)]
    assert len(committed) > len(jobs), "writers wrote on both sides of the restart"
    assert reader.seen == committed, "the reader skipped or repeated a change"
    for job in jobs:
        version = (await job_scope(job["id"]) or {})["version"]
        mine = [r for r in await changes_after(start, 100_000) if str(r["job_id"]) == job["id"]]
        assert len(mine) == version - 1, "each committed change is in the log once"
