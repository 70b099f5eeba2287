"""The change log: written with every change or not at all, read without gaps, and the
feed versions it drives move only for the people a change concerns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.changes.queries import changes_after, newest_change_id
from server.context import AppContext
from server.core.access import ALL_SCOPE, branch_scope, user_scope
from server.errors import JobNotFound
from server.jobs import writes as job_writes
from server.jobs.queries import get_job, job_scope
from server.jobs.writes import update_job
from tests.world import World, add_jobs, add_staff


async def test_a_change_raises_exactly_the_scopes_it_concerns(
    app: Any, ctx: AppContext, world: World
) -> None:
    giver, taker, bystander = [await add_staff(world) for _ in range(3)]
    job = (await add_jobs(giver, 1))[0]
    await add_jobs(bystander, 1)
    await ctx.mirror.catch_up()
    before = {s: ctx.mirror.version_of(s) for s in (user_scope(bystander["id"]),)}

    await update_job(job["id"], {"assignee": taker["id"]}, "job.assigned")
    newest = await newest_change_id()
    await ctx.mirror.catch_up()

    for scope in (
        user_scope(giver["id"]),
        user_scope(taker["id"]),
        branch_scope(world.south),
        ALL_SCOPE,
    ):
        assert ctx.mirror.version_of(scope) == newest, scope
    assert ctx.mirror.version_of(user_scope(bystander["id"])) == before[user_scope(bystander["id"])]
    assert ctx.mirror.version_of(branch_scope(world.north)) < newest
    row = (await changes_after(newest - 1, 10))[0]
    assert row["kind"] == "job.assigned"
    assert str(row["previous_assignee_id"]) == giver["id"]
    assert str(row["assignee_id"]) == taker["id"]


async def test_an_unknown_job_writes_nothing(app: Any, world: World) -> None:
    before = await newest_change_id()
    with pytest.raises(JobNotFound):
        await update_job(
            "00000000-0000-4000-8000-000000000000", {"priority": "high"}, "job.updated"
        )
    assert await newest_change_id() == before


async def test_a_change_that_cannot_be_logged_is_rolled_back(
    app: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job row is updated first; when the log append then fails, both roll back."""
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    before = await newest_change_id()

    async def log_unavailable(rows: list[dict[str, Any]]) -> int:
        raise RuntimeError("change log unavailable")

    monkeypatch.setattr(job_writes, "record_changes", log_unavailable)
    with pytest.raises(RuntimeError):
        await update_job(job["id"], {"priority": "urgent"}, "job.updated")
    monkeypatch.undo()
    stored = await job_scope(job["id"])
    assert stored is not None and stored["version"] == 1
    assert (await get_job(job["id"]) or {})["priority"] == "normal"
    assert await newest_change_id() == before


async def test_readers_never_skip_a_change_while_writers_race(app: Any, world: World) -> None:
    """Concurrent writers commit out of order; a reader resuming "after N" must not skip."""
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 8)
    start = await newest_change_id()
    seen: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        last = start
        while True:
            finished = done.is_set()
            rows = await changes_after(last, 1000)
            seen.extend(int(r["id"]) for r in rows)
            last = max([last, *seen])
            if finished:
                return
            await asyncio.sleep(0)

    async def writer(job: dict[str, Any], n: int) -> None:
        for round_ in range(4):
            await update_job(job["id"], {"notes": f"round {round_} by {n}"}, "job.updated")

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(job, n) for n, job in enumerate(jobs)))
    done.set()
    await reading
    written = [int(r["id"]) for r in await changes_after(start, 1000)]
    assert len(written) == 32
    assert seen == written, "the reader skipped or repeated a change"
