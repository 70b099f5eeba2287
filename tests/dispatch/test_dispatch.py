"""Dispatch writes: create, assign, edit and cancel, within the dispatcher's branch only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import User
from server.jobs.schemas import JobDetail
from tests.answers import parse_answer
from tests.phones import DISPATCH, Dispatcher, Phone
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff, add_user, bearer

FEED = "/api/mobile/jobs"


@pytest.fixture
def dispatcher(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Dispatcher:
    return Dispatcher(client, ctx, world.dispatcher)


async def customer_of(job_id: str, dispatcher: Dispatcher) -> str:
    detail = await dispatcher.client.get(f"{FEED}/{job_id}", headers=dispatcher.headers)
    customer: str = detail.json()["job"]["customerId"]
    return customer


def new_job(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "serviceType": "Deep clean",
        "scheduledDate": "2026-11-30T09:00:00+07:00",
        "checklist": ["ปัดฝุ่น · Dust", "Mop"],
        **extra,
    }


async def test_a_dispatcher_creates_a_job_that_the_assignee_sees_at_once(
    client: httpx.AsyncClient, ctx: AppContext, world: World, dispatcher: Dispatcher
) -> None:
    staff = await add_staff(world)
    phone = Phone(client, ctx, staff)
    before = await client.get(FEED, headers=phone.headers)
    customer = await customer_of(world.unassigned[0], dispatcher)

    created = await client.post(
        DISPATCH,
        json=new_job(customer, assigneeId=staff["id"], priority="urgent", notes="รหัสประตู 12"),
        headers=dispatcher.headers,
    )

    assert created.status_code == 201, created.text
    detail = parse_answer(JobDetail, created.json())
    assert detail.job.status == "assigned"
    assert detail.job.assignee_id == staff["id"]
    assert detail.job.notes == "รหัสประตู 12"
    assert [i.label for i in detail.checklist_items] == ["ปัดฝุ่น · Dust", "Mop"]
    after = await client.get(
        FEED, headers=phone.headers | {"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert [j["id"] for j in after.json()["jobs"]] == [detail.job.id]


async def test_a_job_without_assignee_is_pending(world: World, dispatcher: Dispatcher) -> None:
    customer = await customer_of(world.unassigned[0], dispatcher)
    created = await dispatcher.client.post(
        DISPATCH, json=new_job(customer), headers=dispatcher.headers
    )
    assert created.status_code == 201
    for bad in ({"serviceType": "a\u0000"}, {"checklist": ["x" * 201]}, {"checklist": [""]}):
        refused = await dispatcher.client.post(
            DISPATCH, json=new_job(customer) | bad, headers=dispatcher.headers
        )
        assert_problem(refused, 422, "validation_failed")
    assert created.json()["job"]["status"] == "pending"
    assert created.json()["job"]["assigneeId"] is None


async def test_assigning_a_pending_job_then_reassigning_it(
    client: httpx.AsyncClient, ctx: AppContext, world: World, dispatcher: Dispatcher
) -> None:
    first, second = await add_staff(world), await add_staff(world)
    job = (await add_jobs(None, 1, status="pending", branch=world.south))[0]

    assigned = await dispatcher.assign(job["id"], first["id"])
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["job"]["status"] == "assigned"
    version = assigned.json()["job"]["version"]
    assert (await Phone(client, ctx, first).job(job["id"]))["job"]["assigneeId"] == first["id"]

    moved = await dispatcher.assign(job["id"], second["id"])
    assert moved.json()["job"]["assigneeId"] == second["id"]
    assert moved.json()["job"]["version"] == version + 1
    gone = await client.get(f"{FEED}/{job['id']}", headers=bearer(ctx.signer, first))
    assert_problem(gone, 404, "job_not_found")


async def test_assigning_again_to_the_same_person_changes_nothing(
    world: World, dispatcher: Dispatcher
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    before = (await dispatcher.assign(job["id"], staff["id"])).json()["job"]["version"]
    after = (await dispatcher.assign(job["id"], staff["id"])).json()["job"]["version"]
    assert before == after


@pytest.mark.parametrize("who", ["other branch", "dispatcher", "admin", "inactive"])
async def test_the_assignee_must_be_active_staff_of_the_jobs_branch(
    world: World, dispatcher: Dispatcher, who: str
) -> None:
    job = (await add_jobs(None, 1, status="pending", branch=world.south))[0]
    people = {
        "other branch": world.staff_c,
        "dispatcher": world.dispatcher,
        "admin": world.admin,
        "inactive": await add_user("staff", world.south, world.south_team),
    }
    if who == "inactive":
        await User.update({User.active: False}).where(User.id == people[who]["id"]).run()
    response = await dispatcher.assign(job["id"], people[who]["id"])
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "assigneeId"


async def test_edits_reprioritise_reschedule_and_annotate(
    world: World, dispatcher: Dispatcher
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    response = await dispatcher.edit(
        job["id"],
        priority="urgent",
        scheduledDate="2026-12-01T14:30:00+07:00",
        durationMinutes=90,
        notes="ลูกค้าขอเลื่อน",
    )
    assert response.status_code == 200, response.text
    edited = response.json()["job"]
    assert edited["priority"] == "urgent"
    assert edited["scheduledDate"] == "2026-12-01T14:30:00+07:00"
    assert edited["durationMinutes"] == 90
    assert edited["notes"] == "ลูกค้าขอเลื่อน"
    assert edited["version"] == 2
    again = await dispatcher.edit(job["id"], priority="urgent")
    assert again.json()["job"]["version"] == 2, "an edit that changes nothing writes nothing"


async def test_cancel_anything_unfinished_but_nothing_leaves_completed_or_cancelled(
    world: World, dispatcher: Dispatcher
) -> None:
    staff = await add_staff(world)
    running, done = (
        await add_jobs(staff, 1, status="in_progress"),
        await add_jobs(staff, 1, status="completed"),
    )
    cancelled = await dispatcher.edit(running[0]["id"], status="cancelled")
    assert cancelled.json()["job"]["status"] == "cancelled"
    assert_problem(
        await dispatcher.edit(running[0]["id"], status="cancelled"), 409, "invalid_transition"
    )
    assert_problem(
        await dispatcher.edit(done[0]["id"], status="cancelled"), 409, "invalid_transition"
    )
    assert_problem(await dispatcher.assign(done[0]["id"], staff["id"]), 409, "invalid_transition")
    assert_problem(
        await dispatcher.assign(running[0]["id"], staff["id"]), 409, "invalid_transition"
    )


async def test_another_branchs_job_is_the_same_404_as_no_job(
    world: World, dispatcher: Dispatcher
) -> None:
    north_job = world.jobs[world.staff_c["id"]][0]
    missing = "00000000-0000-4000-8000-000000000000"
    for target in (north_job, missing, "not-a-uuid"):
        edit = await dispatcher.edit(target, priority="high")
        assign = await dispatcher.assign(target, world.staff_a["id"])
        assert_problem(edit, 404, "job_not_found")
        assert_problem(assign, 404, "job_not_found")
    north_customer = await customer_of(
        north_job, Dispatcher(dispatcher.client, dispatcher.ctx, world.admin)
    )
    created = await dispatcher.client.post(
        DISPATCH, json=new_job(north_customer), headers=dispatcher.headers
    )
    assert_problem(created, 422, "validation_failed")


async def test_an_admin_acts_on_every_branch(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    admin = Dispatcher(client, ctx, world.admin)
    job = (await add_jobs(world.staff_c, 1))[0]
    response = await admin.edit(job["id"], priority="high")
    assert response.status_code == 200
    assert response.json()["job"]["priority"] == "high"


async def test_staff_may_not_dispatch(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    as_staff = Dispatcher(client, ctx, world.staff_a)
    own_job = world.jobs[world.staff_a["id"]][0]
    assert_problem(await as_staff.edit(own_job, priority="urgent"), 403, "role_forbidden")
    assert_problem(await as_staff.assign(own_job, world.staff_b["id"]), 403, "role_forbidden")
    created = await client.post(DISPATCH, json={}, headers=as_staff.headers)
    assert_problem(created, 403, "role_forbidden")
    devices = await client.get("/api/dispatch/devices", headers=as_staff.headers)
    assert_problem(devices, 403, "role_forbidden")


@pytest.mark.parametrize(
    "edits",
    [
        {},
        {"status": "completed"},
        {"priority": "whenever"},
        {"durationMinutes": 0},
        {"scheduledDate": "tomorrow"},
        {"scheduledDate": 1764300000},
        {"notes": "x" * 4001},
        {"notes": "nul \u0000 inside"},
        {"durationMinutes": "90"},
        {"surprise": 1},
    ],
)
async def test_bad_edits_are_422(
    world: World, dispatcher: Dispatcher, edits: dict[str, Any]
) -> None:
    job = world.jobs[world.staff_a["id"]][0]
    assert_problem(await dispatcher.edit(job, **edits), 422, "validation_failed")
