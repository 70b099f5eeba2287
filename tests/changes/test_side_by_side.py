"""Writers commit side by side, and a reader resuming "after N" still sees every committed
change exactly once, in increasing id order: none skipped, none repeated, whatever order the
writers commit in, however many roll back or take their time (server/changes/publish.py)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from server.changes import publish
from server.changes.queries import all_feed_versions, changes_after, newest_change_id
from server.context import AppContext
from server.core.access import ALL_SCOPE, branch_scope, user_scope
from server.db.engine import write_transaction
from server.jobs.queries import job_scope
from server.jobs.writes import SYSTEM, JobWriter, lock_jobs, update_job
from tests.servers import running_instances, sign_in, wait_for
from tests.world import World, add_jobs, add_staff

PAGE = 3  # small pages: a reader resumes "after N" many times while writers race


class Abandoned(Exception):
    """A writer changes its mind after appending: its transaction rolls back."""


async def change_notes(
    job_id: str, notes: str, *, pause: float = 0.0, abandon: bool = False
) -> None:
    """One transaction changing a job's notes; it waits ``pause`` seconds between appending
    to the log and committing, or rolls back there when ``abandon``."""
    async with write_transaction():
        job = (await lock_jobs([job_id]))[job_id]
        writer = JobWriter(SYSTEM)
        writer.change(job, {"notes": notes}, "job.updated")
        await writer.commit()
        await asyncio.sleep(pause)
        if abandon:
            raise Abandoned()


class Reader:
    """Pages the log "after N" from ``start`` until told to stop, then reads to its end."""

    def __init__(self, start: int) -> None:
        self.last = start
        self.seen: list[int] = []
        self.done = asyncio.Event()

    async def run(self) -> None:
        while True:
            finished = self.done.is_set()
            rows = await changes_after(self.last, PAGE)
            self.seen += [int(row["id"]) for row in rows]
            self.last = self.seen[-1] if self.seen else self.last
            if finished and not rows:
                return
            await asyncio.sleep(0)


async def test_racing_writers_are_read_once_each_in_order(app: Any, world: World) -> None:
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 6)
    start = await newest_change_id()
    readers = [Reader(start) for _ in range(3)]
    reading = [asyncio.create_task(reader.run()) for reader in readers]

    async def writer(n: int, job: dict[str, Any]) -> None:
        for round_ in range(6):
            style = (n + round_) % 3  # commit at once, take a while, or roll back
            with contextlib.suppress(Abandoned):
                await change_notes(
                    job["id"], f"{n}.{round_}", pause=0.02 * (style == 1), abandon=style == 2
                )

    await asyncio.gather(*(writer(n, job) for n, job in enumerate(jobs)))
    for reader in readers:
        reader.done.set()
    await asyncio.gather(*reading)

    committed = [int(row["id"]) for row in await changes_after(start, 1000)]
    assert len(committed) == 24, "four of each job's six transactions committed"
    for reader in readers:
        assert reader.seen == committed, "a reader skipped or repeated a change"
    assert committed == sorted(set(committed))
    for job in jobs:
        assert (await job_scope(job["id"]) or {})["version"] == 5


async def test_a_writer_left_open_does_not_hold_back_another_commit(
    app: Any, world: World, engine_kind: str
) -> None:
    """The second writer commits while the first, which appended before it, is still open;
    readers see neither until the first is settled, then both, in id order."""
    if engine_kind == "sqlite":
        pytest.skip("SQLite lets one transaction write at a time")
    staff = await add_staff(world)
    slow_job, fast_job = await add_jobs(staff, 2)
    start = await newest_change_id()
    appended, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        async with write_transaction():
            job = (await lock_jobs([slow_job["id"]]))[slow_job["id"]]
            writer = JobWriter(SYSTEM)
            writer.change(job, {"notes": "slow"}, "job.updated")
            await writer.commit()
            appended.set()
            await release.wait()

    slow_writing = asyncio.create_task(slow())
    await appended.wait()
    fast_writing = asyncio.create_task(update_job(fast_job["id"], {"notes": "fast"}, "job.updated"))

    async def fast_committed() -> bool:
        return (await job_scope(fast_job["id"]) or {}).get("version") == 2

    try:
        await wait_for(fast_committed, "the second writer to commit beside the open first")
        assert await newest_change_id() == start, "readers wait for the open writer's id"
        assert await changes_after(start, 10) == []
    finally:
        release.set()
        await slow_writing
    await fast_writing

    rows = await changes_after(start, 10)
    assert [str(row["job_id"]) for row in rows] == [slow_job["id"], fast_job["id"]]
    assert await newest_change_id() == int(rows[-1]["id"])


async def test_another_programs_advisory_key_never_holds_the_head_back(
    app: Any, world: World, engine_kind: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An advisory lock some other program holds in the same database (a negative key, say)
    is no writer's bound: a commit beside it is readable when its write returns."""
    if engine_kind == "sqlite":
        pytest.skip("SQLite has no advisory locks; its writer moves the head itself")
    monkeypatch.setattr(publish, "OWN_WAIT_SECONDS", 2.0)  # a failure shows in seconds
    staff = await add_staff(world)
    (job,) = await add_jobs(staff, 1)
    start = await newest_change_id()
    other_program = await asyncpg.connect(database_url)
    try:
        await other_program.execute("SELECT pg_advisory_lock(-42)")
        await update_job(job["id"], {"notes": "beside another program"}, "job.updated")
        rows = await changes_after(start, 10)
    finally:
        await other_program.close()
    assert [str(row["job_id"]) for row in rows] == [job["id"]]
    assert await newest_change_id() == int(rows[-1]["id"])


async def test_writers_on_two_instances_are_read_once_each_in_order(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """Phones sync through two server processes on one database while a reader pages."""
    people = [await add_staff(world) for _ in range(4)]
    jobs = {person["id"]: await add_jobs(person, 3) for person in people}
    start = await newest_change_id()
    reader = Reader(start)
    async with running_instances(database_url, tmp_path) as instances:
        reading = asyncio.create_task(reader.run())

        async def phone(n: int, person: dict[str, Any]) -> list[int]:
            client = instances[n % 2]
            headers = await sign_in(client, person, f"side-{n}")
            cursors = []
            for round_ in range(4):
                now = datetime.now(UTC).isoformat()
                updates = [
                    {"mutationId": f"side-{n}-{round_}-{job['id']}", "jobId": job["id"]}
                    | {"baseVersion": 1 + round_, "clientTimestamp": now, "notes": f"{round_}"}
                    for job in jobs[person["id"]]
                ]
                batch = {"deviceId": f"side-{n}", "deviceTime": now, "pendingUpdates": updates}
                answer = await client.post(
                    "/api/mobile/sync", json=batch, headers=headers, timeout=30
                )
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["synced"]) == 3, answer.text
                cursors.append(answer.json()["cursor"])
            return cursors

        cursors = await asyncio.gather(*(phone(n, person) for n, person in enumerate(people)))
        reader.done.set()
        await reading

    committed = [int(row["id"]) for row in await changes_after(start, 1000)]
    assert len(committed) == 4 * 4 * 3
    assert reader.seen == committed, "a reader skipped or repeated a change"
    visible = set(committed)
    assert all(cursor in visible for own in cursors for cursor in own), (
        "each answer's cursor is a change readers can already see"
    )


async def test_an_answer_cursor_is_readable_at_once(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    """The cursor a sync answer gives is never ahead of the log when the phone resumes."""
    person = await add_staff(world)
    (job,) = await add_jobs(person, 1)
    headers = await sign_in(client, person, "cursor")
    now = datetime.now(UTC).isoformat()
    update = {"mutationId": "cursor-1", "jobId": job["id"], "baseVersion": 1}
    batch = {
        "deviceId": "cursor",
        "deviceTime": now,
        "pendingUpdates": [update | {"clientTimestamp": now, "notes": "n"}],
    }
    answer = await client.post("/api/mobile/sync", json=batch, headers=headers)
    cursor = answer.json()["cursor"]
    resumed = await client.get(
        "/api/mobile/sync/changes", params={"since": cursor - 1}, headers=headers
    )
    assert resumed.status_code == 200, resumed.text
    assert [j["id"] for j in resumed.json()["changes"]] == [job["id"]]
    after = await client.get("/api/mobile/sync/changes", params={"since": cursor}, headers=headers)
    assert after.status_code == 200 and after.json()["changes"] == []


async def test_stored_feed_versions_agree_with_the_mirror(
    app: Any, ctx: AppContext, world: World
) -> None:
    """The versions the head's mover stores (read by a worker at start) are those every
    mirror works out from the rows."""
    giver, taker = await add_staff(world), await add_staff(world)
    (job,) = await add_jobs(giver, 1)
    await update_job(job["id"], {"assignee": taker["id"]}, "job.assigned")
    newest = await newest_change_id()
    await ctx.mirror.catch_up()
    stored = await all_feed_versions()
    for scope in (user_scope(giver["id"]), user_scope(taker["id"]), branch_scope(world.south)):
        assert stored[scope] == ctx.mirror.version_of(scope) == newest, scope
    assert stored[ALL_SCOPE] == ctx.mirror.version_of(ALL_SCOPE) >= newest
