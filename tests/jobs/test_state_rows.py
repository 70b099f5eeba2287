"""The state machine's newer moves, each made through the API the way the office and the field
make them: reassigning a job under way or on hold, a problem putting a job on hold, resuming
it, rescheduling it, reopening a completed job with a reason, and cancelling one on hold.
The table of every move is tests/jobs/test_states.py; this is the same machine, end to end."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from server.changes.queries import log_rows_after, newest_change_id
from server.context import AppContext
from server.core.access import Principal
from server.jobs.schemas import JobDetail, ProblemAnswer
from server.live.events import Event
from server.live.stream import Heartbeat, live_events
from server.sync.schemas import SyncAnswer
from tests.answers import parse_answer
from tests.phones import DISPATCH, Dispatcher, Phone, new_id
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff

FEED = "/api/mobile/jobs"


@pytest.fixture
def office(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Dispatcher:
    return Dispatcher(client, ctx, world.dispatcher)


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return Phone(client, ctx, await add_staff(world))


async def job_of(phone: Phone, status: str) -> dict[str, Any]:
    """A job of ``phone``'s (they lead its crew of one) in ``status``, as they see it."""
    job = (await add_jobs(phone.user, 1, status=status))[0]
    return await phone.job(job["id"])


async def assign(office: Dispatcher, job_id: str, crew: list[str]) -> httpx.Response:
    return await office.client.post(
        f"{DISPATCH}/{job_id}/assign", json={"assigneeIds": crew}, headers=office.headers
    )


async def report(phone: Phone | Dispatcher, job_id: str, **body: Any) -> httpx.Response:
    return await phone.client.post(
        f"{FEED}/{job_id}/issues",
        json={"mutationId": new_id(), "reason": "customer_absent", **body},
        headers=phone.headers,
    )


async def reopen(office: Dispatcher, job_id: str, body: dict[str, Any]) -> httpx.Response:
    return await office.client.post(
        f"{DISPATCH}/{job_id}/reopen", json=body, headers=office.headers
    )


async def replayed(ctx: AppContext, phone: Phone, after: int) -> list[tuple[str, dict[str, Any]]]:
    """The events a stream of ``phone``'s reconnecting with ``Last-Event-ID: after`` is sent
    before it goes live: each one's name and data."""
    newest = await newest_change_id()
    for _ in range(250):
        if ctx.hub.last_id >= newest:
            break
        await asyncio.sleep(0.02)
    user = phone.user
    principal = Principal(user["id"], phone.device_id, user["role"], user["branch"], user["team"])
    events: list[tuple[str, dict[str, Any]]] = []
    async with aclosing(live_events(ctx.hub, principal, after, time.time() + 60, 1)) as items:
        async for item in items:
            if isinstance(item, Heartbeat):
                break
            if isinstance(item, Event):
                events.append((item.name, json.loads(item.data)))
    return events


def first_item(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"itemId": detail["checklistItems"][0]["id"], "done": True}]


# Reassigning ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["en_route", "in_progress", "on_hold"])
async def test_a_new_lead_starts_a_job_under_way_or_on_hold_again_from_assigned(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    office: Dispatcher,
    phone: Phone,
    status: str,
) -> None:
    detail = await job_of(phone, status)
    job_id, version = detail["job"]["id"], detail["job"]["version"]
    queued = phone.update(job_id, version, checklist=first_item(detail), notes="gate code 12")
    newcomer = Phone(client, ctx, await add_staff(world))

    moved = await assign(office, job_id, [newcomer.user["id"]])

    assert moved.status_code == 200, moved.text
    job = parse_answer(JobDetail, moved.json()).job
    assert (job.status, job.assignee_ids, job.version) == (
        "assigned",
        [newcomer.user["id"]],
        version + 1,
    )
    assert (await newcomer.job(job_id))["job"]["status"] == "assigned"
    answer = parse_answer(SyncAnswer, await phone.sync(queued))
    assert [(c.mutation_id, c.reason) for c in answer.conflicts] == [
        (queued["mutationId"], "job_reassigned")
    ]
    now = await newcomer.job(job_id)
    assert now["job"]["notes"] != "gate code 12"
    assert now["checklistItems"][0]["done"] is False


@pytest.mark.parametrize("status", ["assigned", "en_route", "in_progress"])
async def test_the_same_lead_with_a_member_added_keeps_going(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    office: Dispatcher,
    phone: Phone,
    status: str,
) -> None:
    detail = await job_of(phone, status)
    job_id, version = detail["job"]["id"], detail["job"]["version"]
    leads_queued = phone.update(job_id, version, checklist=first_item(detail))
    helper = Phone(client, ctx, await add_staff(world))

    grown = await assign(office, job_id, [phone.user["id"], helper.user["id"]])

    assert grown.status_code == 200, grown.text
    assert grown.json()["job"]["status"] == status
    assert grown.json()["job"]["assigneeIds"] == [phone.user["id"], helper.user["id"]]
    assert (await helper.job(job_id))["job"]["status"] == status
    assert (await phone.sync(leads_queued))["synced"] == [leads_queued["mutationId"]]
    assert (await phone.receipt(leads_queued["mutationId"]))["outcome"] == "merged"


async def test_a_job_on_hold_given_more_hands_under_the_same_lead_is_resumed(
    client: httpx.AsyncClient, ctx: AppContext, world: World, office: Dispatcher, phone: Phone
) -> None:
    job_id = (await job_of(phone, "on_hold"))["job"]["id"]
    helper = await add_staff(world)
    answer = await assign(office, job_id, [phone.user["id"], helper["id"]])
    assert answer.status_code == 200, answer.text
    assert answer.json()["job"]["status"] == "assigned"


# A problem puts the job on hold --------------------------------------------------------


@pytest.mark.parametrize("status", ["assigned", "en_route", "in_progress"])
async def test_a_problem_reported_puts_the_job_on_hold(
    office: Dispatcher, phone: Phone, status: str
) -> None:
    job_id = (await job_of(phone, status))["job"]["id"]

    answer = await report(phone, job_id, reason="no_access", note="gate locked")

    assert answer.status_code == 201, answer.text
    assert parse_answer(ProblemAnswer, answer.json()).job.status == "on_hold"
    detail = await office.client.get(f"{FEED}/{job_id}", headers=office.headers)
    assert detail.json()["job"]["status"] == "on_hold"
    [problem] = detail.json()["problems"]
    assert (problem["reason"], problem["note"], problem["reportedBy"]) == (
        "no_access",
        "gate locked",
        phone.user["id"],
    )


@pytest.mark.parametrize("status", ["completed", "cancelled"])
async def test_a_problem_on_a_finished_job_is_refused(phone: Phone, status: str) -> None:
    job_id = (await job_of(phone, status))["job"]["id"]
    assert_problem(await report(phone, job_id), 409, "invalid_transition")
    offline = phone.issue(job_id)
    answer = parse_answer(SyncAnswer, await phone.sync(issues=[offline]))
    assert [(f.mutation_id, f.code) for f in answer.failed] == [
        (offline["mutationId"], "invalid_transition")
    ]
    detail = await phone.job(job_id)
    assert (detail["job"]["status"], detail["problems"]) == (status, [])


async def test_a_problem_on_a_pending_job_is_refused(world: World, office: Dispatcher) -> None:
    job_id = (await add_jobs(None, 1, status="pending", branch=world.south))[0]["id"]
    assert_problem(await report(office, job_id), 409, "invalid_transition")
    detail = await office.client.get(f"{FEED}/{job_id}", headers=office.headers)
    assert (detail.json()["job"]["status"], detail.json()["problems"]) == ("pending", [])


# Resuming, rescheduling and cancelling a job on hold -----------------------------------


async def test_the_office_resumes_a_job_on_hold(office: Dispatcher, phone: Phone) -> None:
    job_id = (await job_of(phone, "assigned"))["job"]["id"]
    assert (await report(phone, job_id)).status_code == 201

    resumed = await office.edit(job_id, status="assigned")

    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["job"]["status"] == "assigned"
    assert resumed.json()["job"]["assigneeIds"] == [phone.user["id"]]
    detail = await phone.job(job_id)
    assert detail["job"]["status"] == "assigned"
    assert len(detail["problems"]) == 1, "the problem stays on record"
    step = phone.update(job_id, detail["job"]["version"], status="en_route")
    assert (await phone.sync(step))["synced"] == [step["mutationId"]]


@pytest.mark.parametrize(
    "status", ["assigned", "en_route", "in_progress", "completed", "cancelled"]
)
async def test_only_a_job_on_hold_can_be_resumed(
    office: Dispatcher, phone: Phone, status: str
) -> None:
    job_id = (await job_of(phone, status))["job"]["id"]
    assert_problem(await office.edit(job_id, status="assigned"), 409, "invalid_transition")
    assert (await phone.job(job_id))["job"]["status"] == status


async def test_rescheduling_a_job_on_hold_resumes_it_for_its_whole_crew(
    client: httpx.AsyncClient, ctx: AppContext, world: World, office: Dispatcher, phone: Phone
) -> None:
    job_id = (await job_of(phone, "assigned"))["job"]["id"]
    helper = Phone(client, ctx, await add_staff(world))
    assert (await assign(office, job_id, [phone.user["id"], helper.user["id"]])).status_code == 200
    assert (await report(helper, job_id, reason="needs_reschedule")).status_code == 201

    moved = await office.edit(job_id, scheduledDate="2026-12-02T10:00:00+07:00")

    assert moved.status_code == 200, moved.text
    assert moved.json()["job"]["status"] == "assigned"
    assert moved.json()["job"]["scheduledDate"] == "2026-12-02T10:00:00+07:00"
    that_day = {"from": "2026-12-02", "to": "2026-12-03"}
    for member in (phone, helper):
        assert (await member.job(job_id))["job"]["status"] == "assigned"
        feed = await client.get(FEED, params=that_day, headers=member.headers)
        assert [job["id"] for job in feed.json()["jobs"]] == [job_id]
        assert feed.json()["total"] == 1


async def test_a_job_on_hold_can_be_cancelled(office: Dispatcher, phone: Phone) -> None:
    job_id = (await job_of(phone, "on_hold"))["job"]["id"]
    cancelled = await office.edit(job_id, status="cancelled")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["job"]["status"] == "cancelled"
    assert_problem(await report(phone, job_id), 409, "invalid_transition")


# Reopening -----------------------------------------------------------------------------


async def test_a_completed_job_reopened_with_a_reason_is_back_in_progress(
    ctx: AppContext, office: Dispatcher, phone: Phone
) -> None:
    job_id = (await job_of(phone, "completed"))["job"]["id"]
    before = await newest_change_id()

    reopened = await reopen(office, job_id, {"reason": "ลืมเช็ดกระจก · windows missed"})

    assert reopened.status_code == 200, reopened.text
    assert parse_answer(JobDetail, reopened.json()).job.status == "in_progress"
    [row] = [r for r in await log_rows_after(before, 1000) if str(r["job_id"]) == job_id]
    assert row["kind"] == "job.reopened"
    assert row["payload"]["reason"] == "ลืมเช็ดกระจก · windows missed"
    assert row["payload"]["fields"] == {"status": "in_progress"}
    assert row["payload"]["crew"] == [phone.user["id"]]
    [(name, data)] = await replayed(ctx, phone, before)
    assert (name, data["job"]["id"], data["job"]["status"]) == (
        "job-updated",
        job_id,
        "in_progress",
    )
    assert data["changed"] == ["status"]
    detail = await phone.job(job_id)
    assert detail["job"]["status"] == "in_progress"
    done = phone.update(job_id, detail["job"]["version"], status="completed")
    assert (await phone.sync(done))["synced"] == [done["mutationId"]], "the lead finishes it again"


@pytest.mark.parametrize("status", ["assigned", "en_route", "in_progress", "on_hold", "cancelled"])
async def test_only_a_completed_job_can_be_reopened(
    office: Dispatcher, phone: Phone, status: str
) -> None:
    job_id = (await job_of(phone, status))["job"]["id"]
    assert_problem(await reopen(office, job_id, {"reason": "why not"}), 409, "invalid_transition")


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 1001}, {"reason": 7}])
async def test_a_reopening_needs_a_reason(
    office: Dispatcher, phone: Phone, body: dict[str, Any]
) -> None:
    job_id = (await job_of(phone, "completed"))["job"]["id"]
    assert_problem(await reopen(office, job_id, body), 422, "validation_failed")
    assert (await phone.job(job_id))["job"]["status"] == "completed"
