"""Crews: a job worked by several people, lead first. Every member sees the job, hears of it
live and by push, ticks and checks in; only the lead moves it along. Taken off the crew, a
member loses the job at once, and what their phone still had queued for it comes back as a
conflict."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from server.changes.queries import log_rows_after, newest_change_id
from server.checkins.schemas import CheckInList
from server.context import AppContext
from server.core.access import Principal
from server.db.engine import write_transaction
from server.db.tables import Notification
from server.jobs.schemas import JobDetail, JobsPage
from server.live.events import Event
from server.live.stream import Heartbeat, Item, live_events
from server.push.subscriptions import NewSubscription, subscribe
from server.push.worker import plan_job_pushes
from server.sync.schemas import SyncAnswer, SyncChanges
from tests.answers import parse_answer
from tests.phones import CHANGES, DISPATCH, Dispatcher, Phone, new_id, rfc3339
from tests.problems import assert_problem
from tests.push.push_service import BrowserKeys
from tests.world import World, add_jobs, add_user

FEED = "/api/mobile/jobs"
PUSH_HOST = "push.crews.test"


@dataclass
class Crew:
    """A pending job of the south branch given to a crew of two, and a bystander of the same
    team who is not on it."""

    job_id: str
    lead: Phone
    member: Phone
    bystander: Phone
    office: Dispatcher

    @property
    def ids(self) -> list[str]:
        return [self.lead.user["id"], self.member.user["id"]]


async def staff_named(world: World, name: str) -> dict[str, Any]:
    return await add_user("staff", world.south, world.south_team, name=name)


async def assign(office: Dispatcher, job_id: str, crew: list[str]) -> httpx.Response:
    return await office.client.post(
        f"{DISPATCH}/{job_id}/assign", json={"assigneeIds": crew}, headers=office.headers
    )


async def unassigned_job(world: World) -> str:
    return str((await add_jobs(None, 1, status="pending", branch=world.south))[0]["id"])


async def new_crew(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Crew:
    lead = Phone(client, ctx, await staff_named(world, "สมชาย หัวหน้า (Lead)"))
    member = Phone(client, ctx, await staff_named(world, "Malee Member"))
    bystander = Phone(client, ctx, await staff_named(world, "Bystander"))
    return Crew(
        await unassigned_job(world),
        lead,
        member,
        bystander,
        Dispatcher(client, ctx, world.dispatcher),
    )


async def assigned_crew(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Crew:
    crew = await new_crew(client, ctx, world)
    answer = await assign(crew.office, crew.job_id, crew.ids)
    assert answer.status_code == 200, answer.text
    return crew


async def feed_ids(phone: Phone | Dispatcher, **params: str) -> list[str]:
    answer = await phone.client.get(FEED, params=params, headers=phone.headers)
    assert answer.status_code == 200, answer.text
    page = parse_answer(JobsPage, answer.json())
    return [job.id for job in page.jobs]


async def feed_entry(phone: Phone | Dispatcher, job_id: str, **params: str) -> dict[str, Any]:
    answer = await phone.client.get(FEED, params=params, headers=phone.headers)
    assert answer.status_code == 200, answer.text
    [entry] = [job for job in answer.json()["jobs"] if job["id"] == job_id]
    found: dict[str, Any] = entry
    return found


async def changes_since(phone: Phone, since: int) -> dict[str, Any]:
    answer = await phone.client.get(CHANGES, params={"since": since}, headers=phone.headers)
    assert answer.status_code == 200, answer.text
    parse_answer(SyncChanges, answer.json())
    body: dict[str, Any] = answer.json()
    return body


def principal_of(phone: Phone) -> Principal:
    user = phone.user
    return Principal(user["id"], phone.device_id, user["role"], user["branch"], user["team"])


# Live streams, as the SSE and WebSocket endpoints run them, in this process -------------


@dataclass
class Stream:
    """One person's live stream, read in the background from the moment it opened."""

    items: AsyncGenerator[Item, None]
    events: list[Event] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def about(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The events of one job heard so far: each one's name and data."""
        found = [(event.name, json.loads(event.data)) for event in self.events]
        return [(name, data) for name, data in found if data.get("job", {}).get("id") == job_id]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task
        await self.items.aclose()


async def open_stream(ctx: AppContext, phone: Phone) -> Stream:
    items = live_events(ctx.hub, principal_of(phone), None, time.time() + 60, 0.05)
    assert isinstance(await anext(items), Heartbeat)  # subscribed: from here on it hears all
    stream = Stream(items)

    async def read() -> None:
        async for item in items:
            if isinstance(item, Event):
                stream.events.append(item)

    stream.task = asyncio.create_task(read())
    return stream


async def heard(streams: list[Stream], job_id: str, name: str) -> None:
    """Wait until each stream has heard an event ``name`` about the job."""
    for _ in range(250):
        if all(name in [n for n, _ in s.about(job_id)] for s in streams):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {name} on every stream")


async def replayed(ctx: AppContext, phone: Phone, after: int) -> list[tuple[str, dict[str, Any]]]:
    """What a stream reconnecting with ``Last-Event-ID: after`` is sent before it goes live."""
    newest = await newest_change_id()
    for _ in range(250):
        if ctx.hub.last_id >= newest:
            break
        await asyncio.sleep(0.02)
    items = live_events(ctx.hub, principal_of(phone), after, time.time() + 60, 0.05)
    events: list[tuple[str, dict[str, Any]]] = []
    async with aclosing(items) as replay:
        async for item in replay:
            if isinstance(item, Heartbeat):
                return events
            if isinstance(item, Event):
                events.append((item.name, json.loads(item.data)))
    return events


# Seeing the job ------------------------------------------------------------------------


async def test_both_members_see_the_job_with_its_crew_and_nobody_else_does(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await new_crew(client, ctx, world)

    answer = await assign(crew.office, crew.job_id, crew.ids)

    assert answer.status_code == 200, answer.text
    assigned = parse_answer(JobDetail, answer.json())
    assert assigned.job.status == "assigned"
    assert assigned.job.assignee_ids == crew.ids
    assert assigned.job.assignee_id == crew.lead.user["id"]
    for phone in (crew.lead, crew.member):
        assert crew.job_id in await feed_ids(phone)
        entry = await feed_entry(phone, crew.job_id)
        assert entry["assigneeIds"] == crew.ids
        assert entry["assigneeId"] == crew.lead.user["id"]
        detail = parse_answer(JobDetail, await phone.job(crew.job_id))
        assert detail.job.assignee_ids == crew.ids
        assert detail.job.assignee_id == crew.lead.user["id"]
        assert [(m.id, m.name) for m in detail.crew] == [
            (crew.lead.user["id"], "สมชาย หัวหน้า (Lead)"),
            (crew.member.user["id"], "Malee Member"),
        ]
    outsider = await client.get(f"{FEED}/{crew.job_id}", headers=crew.bystander.headers)
    assert_problem(outsider, 404, "job_not_found")
    assert crew.job_id not in await feed_ids(crew.bystander)


async def test_the_dispatchers_feed_shows_the_crew_and_finds_the_job_by_any_member(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    for member in crew.ids:
        entry = await feed_entry(crew.office, crew.job_id, assigneeId=member)
        assert entry["assigneeIds"] == crew.ids
        assert entry["assigneeId"] == crew.lead.user["id"]
    assert crew.job_id not in await feed_ids(crew.office, assigneeId=crew.bystander.user["id"])


# Hearing of it -------------------------------------------------------------------------


async def test_both_members_hear_the_job_live_and_on_reconnecting_and_the_bystander_does_not(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await new_crew(client, ctx, world)
    lead, member = await open_stream(ctx, crew.lead), await open_stream(ctx, crew.member)
    before = await newest_change_id()
    try:
        assert (await assign(crew.office, crew.job_id, crew.ids)).status_code == 200
        await heard([lead, member], crew.job_id, "job-assigned")
        [(_, data)] = member.about(crew.job_id)
        assert data["job"]["assigneeIds"] == crew.ids
        assert data["job"]["status"] == "assigned"

        step = crew.lead.update(crew.job_id, data["job"]["version"], status="en_route")
        assert (await crew.lead.sync(step))["synced"] == [step["mutationId"]]
        await heard([member], crew.job_id, "status-updated")
    finally:
        await lead.close()
        await member.close()

    for phone in (crew.lead, crew.member):
        names = [name for name, data in await replayed(ctx, phone, before)]
        assert names == ["job-assigned", "status-updated"], phone.user["name"]
    assert await replayed(ctx, crew.bystander, before) == []


async def test_each_member_gets_a_push_for_the_job_and_a_member_taken_off_hears_so(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await new_crew(client, ctx, world)
    newcomer = Phone(client, ctx, await staff_named(world, "Newcomer"))
    for phone in (crew.lead, crew.member, crew.bystander, newcomer):
        await subscribed(phone)

    before = await newest_change_id()
    assert (await assign(crew.office, crew.job_id, crew.ids)).status_code == 200
    assert await planned_pushes(crew.job_id, before) == {
        crew.lead.user["id"]: ["assigned"],
        crew.member.user["id"]: ["assigned"],
    }

    before = await newest_change_id()
    new_crew_ids = [crew.lead.user["id"], newcomer.user["id"]]
    assert (await assign(crew.office, crew.job_id, new_crew_ids)).status_code == 200
    assert await planned_pushes(crew.job_id, before) == {
        newcomer.user["id"]: ["assigned"],
        crew.member.user["id"]: ["reassigned"],
    }, "the lead stays on it: no news for them"


async def subscribed(phone: Phone) -> None:
    """The person's browser subscribed to pushes (on an allowed push service)."""
    keys = BrowserKeys.generate()
    browser = {
        "endpoint": f"https://{PUSH_HOST}/push/{uuid.uuid4().hex}",
        "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
    }
    await subscribe(principal_of(phone), NewSubscription.model_validate(browser), (PUSH_HOST,))


async def planned_pushes(job_id: str, after: int) -> dict[str, list[str]]:
    """Plan the job's changes logged after ``after`` as the push sender does; the pushes
    made, by recipient."""
    rows = [row for row in await log_rows_after(after, 10_000) if str(row["job_id"]) == job_id]
    assert rows, "the change was logged"
    async with write_transaction():
        await plan_job_pushes(rows, 3600)
    change_ids = [int(row["id"]) for row in rows]
    pushes: dict[str, list[str]] = {}
    for row in await Notification.select().where(Notification.change_id.is_in(change_ids)):
        recipients = row["recipients"]
        if isinstance(recipients, str):
            recipients = json.loads(recipients)
        for user_id in recipients:
            pushes.setdefault(str(user_id), []).append(row["kind"])
    return pushes


# Who moves the job ---------------------------------------------------------------------


async def test_only_the_lead_moves_the_job_while_the_member_ticks_and_checks_in(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    detail = await crew.member.job(crew.job_id)
    version = detail["job"]["version"]
    first_item = detail["checklistItems"][0]["id"]

    members_step = crew.member.update(crew.job_id, version, status="en_route")
    refused = parse_answer(SyncAnswer, await crew.member.sync(members_step))
    assert [(f.mutation_id, f.code) for f in refused.failed] == [
        (members_step["mutationId"], "invalid_transition")
    ]
    assert (await crew.member.job(crew.job_id))["job"]["status"] == "assigned"

    leads_step = crew.lead.update(crew.job_id, version, status="en_route")
    assert (await crew.lead.sync(leads_step))["synced"] == [leads_step["mutationId"]]
    version = (await crew.member.job(crew.job_id))["job"]["version"]

    tick = crew.member.update(
        crew.job_id, version, checklist=[{"itemId": first_item, "done": True}]
    )
    assert (await crew.member.sync(tick))["synced"] == [tick["mutationId"]]
    seen_by_lead = await crew.lead.job(crew.job_id)
    assert seen_by_lead["checklistItems"][0]["done"] is True

    members_arrival = await check_in(crew.member, crew.job_id)
    assert members_arrival["withinGeofence"] is True
    assert (await crew.lead.job(crew.job_id))["job"]["status"] == "en_route", (
        "a member's arrival is recorded but moves nothing"
    )
    await check_in(crew.lead, crew.job_id)
    assert (await crew.member.job(crew.job_id))["job"]["status"] == "in_progress"

    listed = await client.get(f"{DISPATCH}/{crew.job_id}/checkins", headers=crew.office.headers)
    assert listed.status_code == 200, listed.text
    check_ins = parse_answer(CheckInList, listed.json()).check_ins
    assert sorted(c.user_id for c in check_ins) == sorted(crew.ids)


async def check_in(phone: Phone, job_id: str) -> dict[str, Any]:
    body = {
        "mutationId": new_id(),
        "type": "in",
        "location": {"lat": 13.7083, "lng": 100.5838},
        "accuracy": 10.0,
        "timestamp": rfc3339(),
    }
    answer = await phone.client.post(
        f"/api/mobile/jobs/{job_id}/checkin", json=body, headers=phone.headers
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()["checkIn"]
    return found


async def test_a_member_reports_a_problem_and_the_lead_hears_the_job_is_on_hold(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    before = await newest_change_id()
    report = {"mutationId": new_id(), "reason": "no_access", "note": "gate locked"}
    answer = await client.post(
        f"{FEED}/{crew.job_id}/issues", json=report, headers=crew.member.headers
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["job"]["status"] == "on_hold"
    [(name, data)] = await replayed(ctx, crew.lead, before)
    assert (name, data["job"]["status"]) == ("job-on-hold", "on_hold")
    assert (data["problem"]["reason"], data["problem"]["reportedBy"]) == (
        "no_access",
        crew.member.user["id"],
    )


# Taken off the crew --------------------------------------------------------------------


async def test_a_member_taken_off_loses_the_job_and_their_queued_edit_is_a_conflict(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    detail = await crew.member.job(crew.job_id)
    version = detail["job"]["version"]
    items = [item["id"] for item in detail["checklistItems"]]
    cursor = (await changes_since(crew.member, 0))["cursor"]
    members_tick = crew.member.update(crew.job_id, version, checklist=[tick(items[0])])
    leads_tick = crew.lead.update(crew.job_id, version, checklist=[tick(items[1])])

    kept = await assign(crew.office, crew.job_id, [crew.lead.user["id"]])

    assert kept.status_code == 200, kept.text
    assert kept.json()["job"]["assigneeIds"] == [crew.lead.user["id"]]
    assert kept.json()["job"]["status"] == "assigned"
    gone = await client.get(f"{FEED}/{crew.job_id}", headers=crew.member.headers)
    assert_problem(gone, 404, "job_not_found")
    assert crew.job_id not in await feed_ids(crew.member)
    missed = await changes_since(crew.member, cursor)
    assert missed["removed"] == [crew.job_id]
    assert crew.job_id not in [job["id"] for job in missed["changes"]]

    answer = parse_answer(SyncAnswer, await crew.member.sync(members_tick))
    [conflict] = answer.conflicts
    assert (conflict.mutation_id, conflict.reason) == (members_tick["mutationId"], "job_reassigned")
    assert answer.synced == [] and answer.failed == []
    assert (await crew.lead.sync(leads_tick))["synced"] == [leads_tick["mutationId"]]
    after = await crew.lead.job(crew.job_id)
    assert [item["done"] for item in after["checklistItems"][:2]] == [False, True], (
        "the member's tick never landed; the lead's did"
    )
    assert (await crew.lead.receipt(leads_tick["mutationId"]))["outcome"] == "merged"


async def test_a_member_taken_off_hears_so_and_the_lead_hears_nothing_of_leaving(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    before = await newest_change_id()
    kept = await assign(crew.office, crew.job_id, [crew.lead.user["id"]])
    assert kept.status_code == 200, kept.text
    [(name, data)] = await replayed(ctx, crew.member, before)
    assert (name, data["job"]["id"]) == ("job-unassigned", crew.job_id)
    [(name, _)] = await replayed(ctx, crew.lead, before)
    assert name == "job-assigned"


async def test_a_member_taken_off_cannot_read_the_job_by_replaying_an_old_report(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    crew = await assigned_crew(client, ctx, world)
    report = {"mutationId": new_id(), "reason": "customer_absent"}
    url = f"{FEED}/{crew.job_id}/issues"
    first = await client.post(url, json=report, headers=crew.member.headers)
    assert first.status_code == 201, first.text
    assert (await crew.office.edit(crew.job_id, status="assigned")).status_code == 200
    assert (await assign(crew.office, crew.job_id, [crew.lead.user["id"]])).status_code == 200
    secret = await crew.office.edit(crew.job_id, notes="รหัสประตู 4411 · door code 4411")
    assert secret.status_code == 200, secret.text

    replay = await client.post(url, json=report, headers=crew.member.headers)

    assert "4411" not in replay.text, "the job's current notes went to someone not on it"
    assert_problem(replay, 404, "job_not_found")


def tick(item_id: str, done: bool = True) -> dict[str, Any]:
    return {"itemId": item_id, "done": done}


# The crew's limits ---------------------------------------------------------------------


async def test_a_crew_has_at_most_eight_people_of_the_jobs_branch_each_once(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    office = Dispatcher(client, ctx, world.dispatcher)
    people = [(await staff_named(world, f"Crew {n}"))["id"] for n in range(9)]
    job_id = await unassigned_job(world)

    too_many = await assign(office, job_id, people)
    assert_problem(too_many, 422, "validation_failed")
    nobody = await assign(office, job_id, [])
    assert_problem(nobody, 422, "validation_failed")
    elsewhere = await assign(office, job_id, [people[0], world.staff_c["id"]])
    body = assert_problem(elsewhere, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["assigneeIds"]
    both = await client.post(
        f"{DISPATCH}/{job_id}/assign",
        json={"assigneeId": people[0], "assigneeIds": people[:2]},
        headers=office.headers,
    )
    assert_problem(both, 422, "validation_failed")
    pending = await client.get(f"{FEED}/{job_id}", headers=office.headers)
    assert pending.json()["job"]["status"] == "pending", "nothing refused was written"

    twice = await assign(office, job_id, [people[1], people[0], people[1], people[0]])
    assert twice.status_code == 200, twice.text
    assert twice.json()["job"]["assigneeIds"] == [people[1], people[0]]
    assert [m["id"] for m in twice.json()["crew"]] == [people[1], people[0]]

    eight = await assign(office, job_id, people[:8])
    assert eight.status_code == 200, eight.text
    assert eight.json()["job"]["assigneeIds"] == people[:8]


@pytest.mark.parametrize("crew_size", [1, 3])
async def test_a_job_created_with_a_crew_is_seen_by_each_member(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crew_size: int
) -> None:
    office = Dispatcher(client, ctx, world.dispatcher)
    phones = [Phone(client, ctx, await staff_named(world, f"P{n}")) for n in range(crew_size)]
    customer = await office.client.get(f"{FEED}/{world.unassigned[0]}", headers=office.headers)
    created = await client.post(
        DISPATCH,
        json={
            "customerId": customer.json()["job"]["customerId"],
            "serviceType": "Deep clean",
            "scheduledDate": "2026-11-30T09:00:00+07:00",
            "assigneeIds": [phone.user["id"] for phone in phones],
        },
        headers=office.headers,
    )
    assert created.status_code == 201, created.text
    job = created.json()["job"]
    assert (job["status"], job["assigneeIds"]) == ("assigned", [p.user["id"] for p in phones])
    for phone in phones:
        assert job["id"] in await feed_ids(phone)


async def test_a_day_offline_on_a_job_taken_off_the_crew_keeps_the_visit_and_alerts_no_one(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """The member was at the customer's before the office moved the job to someone else:
    their check-ins stand as proof of the visit; their edits, remark and problem come back
    as conflicts showing the job as it was when it left them; nothing is refused, so the
    office gets no alert for it."""
    crew = await assigned_crew(client, ctx, world)
    member = crew.member
    was_there = member.check_in(crew.job_id, timestamp=rfc3339())
    version = (await member.job(crew.job_id))["job"]["version"]
    await asyncio.sleep(0.05)  # the visit, then the office's change
    moved = await assign(crew.office, crew.job_id, [crew.lead.user["id"]])
    assert moved.status_code == 200, moved.text
    edited = await crew.office.edit(crew.job_id, notes="new gate code 4411")
    assert edited.status_code == 200, edited.text
    head = await newest_change_id()

    answer = parse_answer(
        SyncAnswer,
        await member.sync(
            member.update(crew.job_id, version, notes="bins out"),
            check_ins=[was_there, member.check_in(crew.job_id, "out")],
            remarks=[member.remark(crew.job_id, "dog in the garden")],
            issues=[member.issue(crew.job_id, "no_access")],
        ),
    ).model_dump(mode="json", by_alias=True)

    assert answer["synced"] == [was_there["mutationId"]], "the visit made before it left"
    [late_check_out] = answer["failed"]
    assert late_check_out["code"] == "job_not_found", "a check-out after it left is not theirs"
    assert {c["reason"] for c in answer["conflicts"]} == {"job_reassigned"}
    assert len(answer["conflicts"]) == 3
    assert "4411" not in json.dumps(answer), "never the job as it is now"
    check_ins = await client.get(
        f"/api/dispatch/jobs/{crew.job_id}/checkins", headers=crew.office.headers
    )
    visits = parse_answer(CheckInList, check_ins.json()).check_ins
    assert [(v.user_id, v.type) for v in visits] == [(member.user["id"], "in")]
    detail = await crew.lead.job(crew.job_id)
    assert (detail["remarks"], detail["problems"], detail["job"]["status"]) == ([], [], "assigned")
    refusals = [row for row in await log_rows_after(head, 100) if row["kind"] == "sync.rejected"]
    assert refusals == [], "a job that is not theirs is not the office's alarm"
