"""``GET /api/mobile/sync/changes``: what a phone missed, as current state, one entry per job,
with the jobs that left its view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.changes.queries import newest_change_id
from server.context import AppContext
from server.sync.schemas import SyncChanges
from tests.answers import parse_answer
from tests.phones import CHANGES, Dispatcher, Phone
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff, bearer


async def pull(phone: Phone, since: int, limit: int = 100) -> dict[str, Any]:
    response = await phone.client.get(
        CHANGES, params={"since": since, "limit": limit}, headers=phone.headers
    )
    assert response.status_code == 200, response.text
    parse_answer(SyncChanges, response.json())
    body: dict[str, Any] = response.json()
    return body


async def pull_all(phone: Phone, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    jobs: list[dict[str, Any]] = []
    for _ in range(100):
        page = await pull(phone, since, limit)
        assert len(page["changes"]) <= limit
        jobs.extend(page["changes"])
        since = page["cursor"]
        if not page["hasMore"]:
            return jobs, since
    raise AssertionError("the change feed never ended")


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return Phone(client, ctx, await add_staff(world))


async def test_since_zero_downloads_every_job_in_pages(phone: Phone) -> None:
    jobs = await add_jobs(phone.user, 7)
    got, cursor = await pull_all(phone, 0, limit=3)
    assert sorted(j["id"] for j in got) == sorted(j["id"] for j in jobs)
    assert cursor == await newest_change_id()
    first = got[0]
    assert len(first["checklistItems"]) == 4
    assert first["location"] == {"lat": 13.7083, "lng": 100.5838}
    assert first["notes"] == "ระวังสุนัข · mind the dog"


async def test_each_job_once_as_it_is_now(phone: Phone, world: World, ctx: AppContext) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    cursor = (await pull(phone, 0))["cursor"]
    dispatcher = Dispatcher(phone.client, ctx, world.dispatcher)
    for priority in ("high", "urgent", "normal", "urgent"):
        assert (await dispatcher.edit(job["id"], priority=priority)).status_code == 200

    page = await pull(phone, cursor)

    assert [(j["id"], j["priority"], j["version"]) for j in page["changes"]] == [
        (job["id"], "urgent", 5)
    ]
    assert page["removed"] == []
    assert (await pull(phone, page["cursor"]))["changes"] == []


async def test_reassigned_away_is_removed_and_the_new_assignee_gets_it(
    phone: Phone, world: World, ctx: AppContext
) -> None:
    taker = Phone(phone.client, ctx, await add_staff(world))
    job = (await add_jobs(phone.user, 1))[0]
    mine, theirs = (await pull(phone, 0))["cursor"], (await pull(taker, 0))["cursor"]

    dispatcher = Dispatcher(phone.client, ctx, world.dispatcher)
    assert (await dispatcher.assign(job["id"], taker.user["id"])).status_code == 200

    lost = await pull(phone, mine)
    assert lost["changes"] == [] and lost["removed"] == [job["id"]]
    gained = await pull(taker, theirs)
    assert [j["id"] for j in gained["changes"]] == [job["id"]]
    assert gained["removed"] == []


async def test_dispatchers_follow_their_branch_only(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    dispatcher = Phone(client, ctx, world.dispatcher)
    cursor = (await pull(dispatcher, 0, limit=500))["cursor"]
    south = await add_jobs(await add_staff(world), 2)
    await add_jobs(await add_staff(world, "north"), 2)
    page = await pull(dispatcher, cursor)
    assert sorted(j["id"] for j in page["changes"]) == sorted(j["id"] for j in south)


async def test_bad_cursors_are_400(phone: Phone) -> None:
    ahead = await newest_change_id() + 1000
    for since in ("abc", "-1", "1.5", "", str(ahead)):
        response = await phone.client.get(CHANGES, params={"since": since}, headers=phone.headers)
        assert_problem(response, 400, "invalid_cursor")
    everything = await phone.client.get(CHANGES, headers=phone.headers)
    assert everything.status_code == 200, "no since: a full download, as since=0"
    response = await phone.client.get(
        CHANGES, params={"since": 0, "limit": 0}, headers=phone.headers
    )
    assert_problem(response, 422, "validation_failed")


async def test_unchanged_answers_revalidate_with_304(phone: Phone, ctx: AppContext) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    await ctx.mirror.catch_up()  # written behind the app's back: read it before comparing
    cursor = (await pull(phone, 0))["cursor"]
    first = await phone.client.get(CHANGES, params={"since": cursor}, headers=phone.headers)
    etag = first.headers["etag"]
    again = await phone.client.get(
        CHANGES, params={"since": cursor}, headers=phone.headers | {"If-None-Match": etag}
    )
    assert again.status_code == 304
    await phone.sync(phone.update(job["id"], 1, notes="changed"))
    changed = await phone.client.get(
        CHANGES, params={"since": cursor}, headers=phone.headers | {"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["changes"][0]["notes"] == "changed"
    assert changed.headers["cache-control"] == "private, no-cache"


async def test_no_one_reads_another_persons_changes(phone: Phone, world: World) -> None:
    await add_jobs(phone.user, 2)
    other = bearer(phone.ctx.signer, world.staff_b)
    response = await phone.client.get(CHANGES, params={"since": 0}, headers=other)
    ids = {j["id"] for j in response.json()["changes"]}
    assert ids == set(world.jobs[world.staff_b["id"]])
