"""The jobs feed: who sees what, filters, keyset pages, validators and encodings."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from typing import Any

import brotli
import httpx
import orjson
import pytest

from server.context import AppContext
from server.jobs.schemas import JobDetail, JobsPage
from server.jobs.writes import update_job
from tests.answers import parse_answer
from tests.world import BASE_TIME, World, add_jobs, add_staff, add_user, bearer

FEED = "/api/mobile/jobs"


async def all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await client.get(
            FEED, headers=headers, params=params | ({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        body = page.json()
        jobs.extend(body["jobs"])
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            return jobs
    raise AssertionError("the feed never ended")


async def test_staff_see_only_their_own_jobs_whatever_they_ask(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.staff_a)
    mine = await all_pages(client, headers, {"limit": 5})
    assert sorted(j["id"] for j in mine) == sorted(world.jobs[world.staff_a["id"]])
    assert {j["assigneeId"] for j in mine} == {world.staff_a["id"]}

    asked_for_other = await client.get(
        FEED, headers=headers, params={"assigneeId": world.staff_b["id"]}
    )
    assert {j["assigneeId"] for j in asked_for_other.json()["jobs"]} == {world.staff_a["id"]}


async def test_staff_cannot_read_someone_elses_job(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    other_job = world.jobs[world.staff_b["id"]][0]
    as_a = await client.get(f"{FEED}/{other_job}", headers=bearer(ctx.signer, world.staff_a))
    missing = await client.get(
        f"{FEED}/00000000-0000-4000-8000-000000000000", headers=bearer(ctx.signer, world.staff_a)
    )
    assert as_a.status_code == missing.status_code == 404
    assert as_a.json() == missing.json()
    as_b = await client.get(f"{FEED}/{other_job}", headers=bearer(ctx.signer, world.staff_b))
    assert as_b.status_code == 200


async def test_dispatcher_sees_their_branch_and_filters_by_assignee(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.dispatcher)
    branch = await all_pages(client, headers, {"limit": 200})
    ids = {j["id"] for j in branch}
    south = world.jobs[world.staff_a["id"]] + world.jobs[world.staff_b["id"]] + world.unassigned
    assert set(south) <= ids
    assert not ids & set(world.jobs[world.staff_c["id"]])

    only_b = await client.get(FEED, headers=headers, params={"assigneeId": world.staff_b["id"]})
    assert sorted(j["id"] for j in only_b.json()["jobs"]) == sorted(world.jobs[world.staff_b["id"]])
    north_job = world.jobs[world.staff_c["id"]][0]
    assert (await client.get(f"{FEED}/{north_job}", headers=headers)).status_code == 404


async def test_a_dispatcher_without_a_branch_sees_nothing(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    loose = await add_user("dispatcher", None, None)
    page = await client.get(FEED, headers=bearer(ctx.signer, loose))
    assert page.status_code == 200
    assert page.json()["total"] == 0
    job = world.jobs[world.staff_a["id"]][0]
    assert (await client.get(f"{FEED}/{job}", headers=bearer(ctx.signer, loose))).status_code == 404


async def test_admin_sees_every_branch(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.admin)
    ids = {j["id"] for j in await all_pages(client, headers, {"limit": 200})}
    for jobs in world.jobs.values():
        assert set(jobs) <= ids
    north_job = world.jobs[world.staff_c["id"]][0]
    assert (await client.get(f"{FEED}/{north_job}", headers=headers)).status_code == 200


async def test_status_repeats_and_time_window_filters(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.dispatcher)
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("status", "pending"),
        ("status", "in_progress"),
        ("limit", "200"),
    ]
    page = (await client.get(FEED, headers=headers, params=params)).json()
    statuses = {j["status"] for j in page["jobs"]}
    assert statuses == {"pending", "in_progress"}
    ids = {j["id"] for j in page["jobs"]}
    assert set(world.unassigned) | set(world.jobs[world.staff_b["id"]]) <= ids
    assert not ids & set(world.jobs[world.staff_a["id"]])  # assigned, not asked for
    assert page["total"] == len(ids) and not page["hasMore"]  # other tests add more of both

    staff = bearer(ctx.signer, world.staff_a)
    window = {"from": "2026-11-24T10:00:00+07:00", "to": "2026-11-24T13:00:00+07:00"}
    in_window = (await client.get(FEED, headers=staff, params=window)).json()
    times = [j["scheduledDate"] for j in in_window["jobs"]]
    assert times == [
        "2026-11-24T10:00:00+07:00",
        "2026-11-24T11:00:00+07:00",
        "2026-11-24T12:00:00+07:00",
    ]
    day = {"from": "2026-11-24", "to": "2026-11-25"}
    assert (await client.get(FEED, headers=staff, params=day)).json()["total"] == 12
    after = {"from": "2026-11-25"}
    assert (await client.get(FEED, headers=staff, params=after)).json()["total"] == 0


async def test_pages_stay_complete_and_unique_while_jobs_are_added(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Keyset paging: rows inserted between pages never cause a repeat or a skip."""
    staff = await add_staff(world)
    original = await add_jobs(staff, 9, start=BASE_TIME, step=timedelta(hours=1))
    headers = bearer(ctx.signer, staff)
    seen: list[str] = []
    behind: set[str] = set()
    ahead: set[str] = set()
    cursor = None
    for round_ in range(40):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get(FEED, headers=headers, params=params)).json()
        seen.extend(j["id"] for j in body["jobs"])
        if not body["hasMore"]:
            break
        cursor = body["nextCursor"]
        if round_ >= 5:
            continue
        position = datetime.fromisoformat(body["jobs"][-1]["scheduledDate"])
        # Between pages, one job lands behind the cursor and two ahead of it.
        for offset in (timedelta(hours=-3), timedelta(minutes=30), timedelta(hours=40 + round_)):
            job = (await add_jobs(staff, 1, start=position + offset))[0]
            (ahead if offset > timedelta(0) else behind).add(job["id"])
        await ctx.mirror.catch_up()
    assert round_ < 39, "the feed never ended"
    assert len(seen) == len(set(seen)), "a job appeared on two pages"
    assert {j["id"] for j in original} <= set(seen), "a job that existed throughout was skipped"
    assert ahead <= set(seen), "a job added ahead of the cursor was missed"
    assert not behind & set(seen), "a job added behind the cursor came back"


async def test_etag_and_304_until_the_data_changes(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 3)
    await ctx.mirror.catch_up()
    headers = bearer(ctx.signer, staff) | {"Accept-Encoding": "br"}
    first = await client.get(FEED, headers=headers)
    etag = first.headers["etag"]
    again = await client.get(FEED, headers=headers | {"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    await update_job(jobs[0]["id"], {"priority": "urgent"}, "job.updated")
    await ctx.mirror.catch_up()
    changed = await client.get(FEED, headers=headers | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    job = next(j for j in changed.json()["jobs"] if j["id"] == jobs[0]["id"])
    assert job["priority"] == "urgent" and job["version"] == 2


async def test_someone_elses_change_does_not_invalidate_my_feed(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    me, other = await add_staff(world), await add_staff(world)
    await add_jobs(me, 2)
    theirs = await add_jobs(other, 1)
    await ctx.mirror.catch_up()
    headers = bearer(ctx.signer, me)
    etag = (await client.get(FEED, headers=headers)).headers["etag"]
    await update_job(theirs[0]["id"], {"notes": "gate code 4411"}, "job.updated")
    await ctx.mirror.catch_up()
    assert (await client.get(FEED, headers=headers | {"If-None-Match": etag})).status_code == 304


async def test_reassignment_moves_the_job_between_feeds(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    giver, taker = await add_staff(world), await add_staff(world)
    job = (await add_jobs(giver, 1))[0]
    await update_job(job["id"], {"assignee": taker["id"]}, "job.assigned")
    await ctx.mirror.catch_up()
    giver_feed = (await client.get(FEED, headers=bearer(ctx.signer, giver))).json()
    taker_feed = (await client.get(FEED, headers=bearer(ctx.signer, taker))).json()
    assert giver_feed["total"] == 0
    assert [j["id"] for j in taker_feed["jobs"]] == [job["id"]]
    detail = await client.get(f"{FEED}/{job['id']}", headers=bearer(ctx.signer, giver))
    assert detail.status_code == 404


@pytest.mark.parametrize("encoding", ["br", "gzip", "identity"])
async def test_every_encoding_decodes_to_the_same_json(
    client: httpx.AsyncClient, ctx: AppContext, world: World, encoding: str
) -> None:
    headers = bearer(ctx.signer, world.dispatcher)
    reference = (await client.get(FEED, headers=headers | {"Accept-Encoding": "identity"})).json()
    raw = await client.send(
        client.build_request("GET", FEED, headers=headers | {"Accept-Encoding": encoding}),
        stream=True,
    )
    body = b"".join([chunk async for chunk in raw.aiter_raw()])
    assert raw.headers.get("content-encoding", "identity") == encoding
    decode = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": bytes}[encoding]
    assert orjson.loads(decode(body)) == reference
    assert raw.headers["vary"] == "Accept-Encoding, Authorization, Cookie"
    assert raw.headers["cache-control"] == "private, no-cache"
    if encoding != "identity":
        assert len(body) < len(orjson.dumps(reference)) / 3


async def test_each_encoding_has_its_own_etag(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.staff_a)
    tags = {
        enc: (await client.get(FEED, headers=headers | {"Accept-Encoding": enc})).headers["etag"]
        for enc in ("br", "gzip", "identity")
    }
    assert len(set(tags.values())) == 3
    crossed = await client.get(
        FEED, headers=headers | {"Accept-Encoding": "gzip", "If-None-Match": tags["br"]}
    )
    assert crossed.status_code == 200


async def test_q_zero_refuses_an_encoding_and_small_bodies_go_plain(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.dispatcher)
    no_br = await client.get(FEED, headers=headers | {"Accept-Encoding": "br;q=0, gzip"})
    assert no_br.headers["content-encoding"] == "gzip"
    empty = await client.get(
        FEED, headers=headers | {"Accept-Encoding": "br"}, params={"from": "2030-01-01"}
    )
    assert empty.json() == {"jobs": [], "total": 0, "hasMore": False, "nextCursor": None}
    assert "content-encoding" not in empty.headers


async def test_thai_text_round_trips(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    name = "คุณนภา ศรีสุข — บ้านเลขที่ ๑๒๓"
    job = (await add_jobs(staff, 1, customer_name=name))[0]
    headers = bearer(ctx.signer, staff)
    feed = await client.get(FEED, headers=headers)
    assert feed.json()["jobs"][0]["customerName"] == name
    assert name.encode() in feed.content
    detail = (await client.get(f"{FEED}/{job['id']}", headers=headers)).json()
    assert detail["customerContact"]["name"] == name
    assert detail["job"]["notes"] == "ระวังสุนัข · mind the dog"


async def test_job_detail_has_the_contract_shape(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job_id = world.jobs[world.staff_a["id"]][0]
    headers = bearer(ctx.signer, world.staff_a)
    response = await client.get(f"{FEED}/{job_id}", headers=headers)
    detail = parse_answer(JobDetail, response.json())
    assert detail.job.id == job_id
    assert [item.label for item in detail.checklist_items][:2] == ["ปัดฝุ่น · Dust", "ถูพื้น · Mop"]
    assert detail.location.lat == pytest.approx(13.7083)
    assert detail.customer_contact.line_id == "@somsri"
    etag = response.headers["etag"]
    assert (
        await client.get(f"{FEED}/{job_id}", headers=headers | {"If-None-Match": etag})
    ).status_code == 304
    page = await client.get(FEED, headers=headers)
    parse_answer(JobsPage, page.json())
