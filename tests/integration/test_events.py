"""The CRM's pull feed of events: in log order with nothing missing (across a restart too),
paged by ``after``/``limit``/``hasMore``, filtered by type, and carrying what each type
promises (a completed job with its checklist, photos and check-ins)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.tokens import TokenSigner
from server.context import AppContext
from server.integration.events import EventsPage
from server.integration.keys import create_api_key
from tests.answers import parse_answer
from tests.integration.conftest import KeyMaker
from tests.phones import Dispatcher
from tests.problems import assert_problem
from tests.servers import SECRET, running_instances
from tests.webhooks.field_work import add_ready_photo, finish_job, head
from tests.world import World, add_jobs, add_staff, bearer

EVENTS = "/api/integration/v1/events"
ALONE = {"WEBHOOK_SENDERS": "0", "PUSH_SENDERS": "0", "PHOTO_PROCESSING_WORKERS": "0"}
"""Server processes without background processes: the feed needs none, and they start faster."""


async def read_all(
    client: httpx.AsyncClient, headers: dict[str, str], after: int, **params: Any
) -> list[dict[str, Any]]:
    """Every event after ``after``, page by page, checking each page's shape."""
    events: list[dict[str, Any]] = []
    while True:
        answer = await client.get(EVENTS, params={"after": after, **params}, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        parse_answer(EventsPage, page)
        events += page["events"]
        assert int(page["next"]) >= after
        after = int(page["next"])
        if not page["hasMore"]:
            return events


def of_job(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("job", {}).get("id") == job_id]


async def test_a_finished_job_reads_as_its_events_in_order(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    headers = await crm_key("events:read")
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    start = await head()
    photo_id = await add_ready_photo(job["id"], staff["id"])
    await finish_job(client, ctx, staff, job["id"])

    events = of_job(await read_all(client, headers, start), job["id"])
    assert [e["type"] for e in events] == [
        "photo.ready",
        "job.status_changed",
        "checkin.recorded",
        "job.completed",
        "checkin.recorded",
    ]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and all(i > start for i in ids)
    assert all(e["occurredAt"].endswith("+07:00") for e in events)
    versions = [e["data"]["job"]["version"] for e in events if e["type"].startswith("job.")]
    assert versions == sorted(versions)

    ready, moved, arrived, completed, left = events
    assert ready["data"]["photo"]["id"] == photo_id
    assert "/media/" in ready["data"]["photo"]["url"] and "sig=" in ready["data"]["photo"]["url"]
    assert moved["data"]["job"]["status"] == "in_progress"
    assert moved["data"]["job"]["assigneeId"] == staff["id"]
    assert arrived["data"]["checkIn"]["type"] == "in"
    assert arrived["data"]["checkIn"]["withinGeofence"] is True
    assert arrived["data"]["checkIn"]["staffId"] == staff["id"]
    assert left["data"]["checkIn"]["type"] == "out"

    done = completed["data"]["job"]
    assert done["status"] == "completed"
    assert [item["label"] for item in done["checklist"]][:2] == ["ปัดฝุ่น · Dust", "ถูพื้น · Mop"]
    assert done["checklist"][0]["done"] is True and done["checklist"][0]["doneAt"]
    assert done["checklist"][1] == {"label": "ถูพื้น · Mop", "done": False, "doneAt": None}
    assert [p["id"] for p in done["photos"]] == [photo_id]
    assert done["photos"][0]["thumbnailUrl"].startswith("http://testserver/media/")
    assert [c["type"] for c in done["checkIns"]] == ["in"]  # the check-out came after
    assert done["checkIns"][0]["distanceMeters"] == 0.0


async def test_pages_follow_after_and_limit_to_the_end(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    headers = await crm_key("events:read")
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 3)
    start = await head()
    for job in jobs:
        await finish_job(client, ctx, staff, job["id"])

    everything = await read_all(client, headers, start, limit=1000)
    paged = await read_all(client, headers, start, limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in everything]
    assert len(of_job(everything, jobs[2]["id"])) == 4

    first = (await client.get(EVENTS, params={"after": start, "limit": 2}, headers=headers)).json()
    assert len(first["events"]) == 2 and first["hasMore"] is True
    assert first["next"] == first["events"][-1]["id"]
    last = await client.get(EVENTS, params={"after": await head()}, headers=headers)
    assert last.json() == {"events": [], "next": str(await head()), "hasMore": False}


async def test_types_filter_and_next_passes_what_was_filtered(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    headers = await crm_key("events:read")
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    start = await head()
    await finish_job(client, ctx, staff, job["id"])

    page = (
        await client.get(EVENTS, params={"after": start, "types": "job.completed"}, headers=headers)
    ).json()
    assert [e["type"] for e in of_job(page["events"], job["id"])] == ["job.completed"]
    assert page["next"] == str(await head()) and page["hasMore"] is False


async def test_office_assignments_and_cancellations_are_events(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    headers = await crm_key("events:read")
    first, second = await add_staff(world), await add_staff(world)
    job = (await add_jobs(first, 1))[0]
    start = await head()
    dispatcher = Dispatcher(client, ctx, world.dispatcher)
    assert (await dispatcher.assign(job["id"], second["id"])).status_code == 200
    assert (await dispatcher.edit(job["id"], status="cancelled")).status_code == 200

    assigned, cancelled = of_job(await read_all(client, headers, start), job["id"])
    assert assigned["type"] == "job.assigned"
    assert assigned["data"]["job"]["assigneeId"] == second["id"]
    assert assigned["data"]["previousAssigneeId"] == first["id"]
    assert cancelled["type"] == "job.status_changed"
    assert cancelled["data"]["job"]["status"] == "cancelled"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after": "x"}, "after"),
        ({"types": "job.completed,job.exploded"}, "types"),
    ],
)
async def test_bad_parameters_name_their_field(
    client: httpx.AsyncClient, crm_key: KeyMaker, params: dict[str, Any], field: str
) -> None:
    answer = await client.get(EVENTS, params=params, headers=await crm_key("events:read"))
    problem = assert_problem(answer, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_an_id_ahead_of_the_log_is_refused(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    answer = await client.get(
        EVENTS, params={"after": await head() + 1000}, headers=await crm_key("events:read")
    )
    assert_problem(answer, 400, "invalid_cursor")


async def test_events_need_the_events_scope(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    assert_problem(
        await client.get(EVENTS, headers=await crm_key("jobs:write")), 403, "missing_scope"
    )
    assert (await client.get(EVENTS, headers=await crm_key("all"))).status_code == 200
    user = bearer(ctx.signer, world.admin)
    assert_problem(await client.get(EVENTS, headers=user), 401, "invalid_api_key")


async def test_nothing_is_missed_across_a_restart(
    app: Any, client: httpx.AsyncClient, database_url: str, tmp_path: Path, world: World
) -> None:
    """The feed keeps no state: after a restart the server reads on from where the CRM got
    to, the events written while it was down among them (here by another instance), and
    from the start the same events."""
    key = {"Authorization": f"Bearer {(await create_api_key('crm', ['events:read'])).key}"}
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 2)
    start = await head()
    # Phones signed in to the server processes (they share their own secret).
    ctx = dataclasses.replace(app.ctx.tinedy, signer=TokenSigner(SECRET, 900, 3600))
    async with running_instances(database_url, tmp_path, count=1, **ALONE) as (before,):
        await finish_job(before, ctx, staff, jobs[0]["id"])
        seen = await read_all(before, key, start, limit=3)
    await finish_job(client, app.ctx.tinedy, staff, jobs[1]["id"])
    async with running_instances(database_url, tmp_path, count=1, **ALONE) as (after,):
        resumed = await read_all(after, key, int(seen[-1]["id"]), limit=3)
        whole = await read_all(after, key, start)
    assert [e["id"] for e in seen + resumed] == [e["id"] for e in whole]
    for job in jobs:
        assert [e["type"] for e in of_job(whole, job["id"])] == [
            "job.status_changed",
            "checkin.recorded",
            "job.completed",
            "checkin.recorded",
        ]
