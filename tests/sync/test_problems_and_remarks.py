"""Problems and remarks from the field, as phones send them (offline in a sync batch, or one
problem at a time): a problem is recorded once however often it is sent, remarks sit beside
the office's notes and never conflict with them, and a change the server refuses is told to
the office once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.changes.queries import log_rows_after, newest_change_id
from server.context import AppContext
from server.db.tables import ChangeLog
from server.jobs.schemas import JobDetail, ProblemAnswer
from server.sync.schemas import SyncAnswer
from tests.answers import parse_answer
from tests.phones import DISPATCH, Dispatcher, Phone
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_user

FEED = "/api/mobile/jobs"


@pytest.fixture
def office(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Dispatcher:
    return Dispatcher(client, ctx, world.dispatcher)


async def phone_of(client: httpx.AsyncClient, ctx: AppContext, world: World, name: str) -> Phone:
    return Phone(client, ctx, await add_user("staff", world.south, world.south_team, name=name))


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return await phone_of(client, ctx, world, "สมศักดิ์ ภาคสนาม")


async def job_rows(job_id: str, after: int) -> list[dict[str, Any]]:
    return [row for row in await log_rows_after(after, 10_000) if str(row["job_id"]) == job_id]


async def rejections(mutation_id: str) -> list[dict[str, Any]]:
    rows = (
        await ChangeLog.select()
        .where(ChangeLog.kind == "sync.rejected")
        .order_by(ChangeLog.id)
        .output(load_json=True)
    )
    return [row for row in rows if row["payload"].get("mutationId") == mutation_id]


async def report(phone: Phone, job_id: str, body: dict[str, Any]) -> httpx.Response:
    return await phone.client.post(f"{FEED}/{job_id}/issues", json=body, headers=phone.headers)


# A problem, once -----------------------------------------------------------------------


async def test_a_problem_sent_offline_twice_and_once_more_online_is_one_problem(
    phone: Phone, office: Dispatcher
) -> None:
    job_id = (await add_jobs(phone.user, 1, status="en_route"))[0]["id"]
    before = await newest_change_id()
    issue = phone.issue(job_id, "customer_absent", note="ไม่มีคนอยู่บ้าน · nobody home")
    batch = phone.batch(issues=[issue])

    first = parse_answer(SyncAnswer, await phone.send(batch))
    again = parse_answer(SyncAnswer, await phone.send(batch))

    assert first.synced == again.synced == [issue["mutationId"]]
    detail = parse_answer(JobDetail, await phone.job(job_id))
    assert detail.job.status == "on_hold"
    [problem] = detail.problems
    assert (problem.reason, problem.note, problem.reported_by, problem.reported_by_name) == (
        "customer_absent",
        "ไม่มีคนอยู่บ้าน · nobody home",
        phone.user["id"],
        "สมศักดิ์ ภาคสนาม",
    )
    [row] = await job_rows(job_id, before)
    assert row["kind"] == "job.problem_reported"
    assert row["payload"]["fields"] == {"status": "on_hold"}
    assert row["payload"]["problem"]["id"] == problem.id
    assert row["payload"]["problem"]["reportedBy"] == phone.user["id"]

    online = {key: issue[key] for key in ("mutationId", "reason", "note")}
    replayed = await report(phone, job_id, online)
    assert replayed.status_code in (200, 201), replayed.text
    assert parse_answer(ProblemAnswer, replayed.json()).job.model_dump() == detail.job.model_dump()
    assert len((await phone.job(job_id))["problems"]) == 1
    assert len(await job_rows(job_id, before)) == 1, "no second alert-worthy row"


async def test_a_problem_sent_online_twice_is_one_problem_with_the_same_answer(
    phone: Phone,
) -> None:
    job_id = (await add_jobs(phone.user, 1, status="in_progress"))[0]["id"]
    body = {"mutationId": phone.issue(job_id)["mutationId"], "reason": "unsafe", "note": "dog"}
    first = await report(phone, job_id, body)
    second = await report(phone, job_id, body)
    assert first.status_code == 201, first.text
    assert second.status_code in (200, 201), second.text
    assert second.json() == first.json()
    assert len((await phone.job(job_id))["problems"]) == 1


async def test_a_mutation_id_reused_for_another_problem_is_refused(phone: Phone) -> None:
    job_id = (await add_jobs(phone.user, 1, status="assigned"))[0]["id"]
    issue = phone.issue(job_id, "no_access")
    assert (await phone.sync(issues=[issue]))["synced"] == [issue["mutationId"]]

    online = await report(phone, job_id, {"mutationId": issue["mutationId"], "reason": "unsafe"})
    assert_problem(online, 409, "mutation_id_reused")
    offline = parse_answer(SyncAnswer, await phone.sync(issues=[{**issue, "note": "other"}]))
    assert [(f.mutation_id, f.code) for f in offline.failed] == [
        (issue["mutationId"], "mutation_id_reused")
    ]
    [problem] = (await phone.job(job_id))["problems"]
    assert (problem["reason"], problem["note"]) == ("no_access", "")


async def test_a_second_problem_on_a_job_on_hold_is_added_and_it_stays_on_hold(
    client: httpx.AsyncClient, ctx: AppContext, world: World, phone: Phone
) -> None:
    job_id = (await add_jobs(phone.user, 1, status="in_progress"))[0]["id"]
    first, second = phone.issue(job_id, "no_access"), phone.issue(job_id, "needs_reschedule")
    answer = await phone.sync(issues=[first, second])
    assert answer["synced"] == [first["mutationId"], second["mutationId"]]
    detail = await phone.job(job_id)
    assert detail["job"]["status"] == "on_hold"
    assert [p["reason"] for p in detail["problems"]] == ["no_access", "needs_reschedule"]


# Remarks -------------------------------------------------------------------------------


async def test_remarks_never_conflict_with_the_offices_notes_nor_with_each_other(
    client: httpx.AsyncClient, ctx: AppContext, world: World, office: Dispatcher
) -> None:
    lead = await phone_of(client, ctx, world, "Lead Lek")
    member = await phone_of(client, ctx, world, "ช่างน้อย")
    job_id = (await add_jobs(None, 1, status="pending", branch=world.south))[0]["id"]
    crew = {"assigneeIds": [lead.user["id"], member.user["id"]]}
    assigned = await client.post(f"{DISPATCH}/{job_id}/assign", json=crew, headers=office.headers)
    assert assigned.status_code == 200, assigned.text
    offline_since = (await lead.job(job_id))["job"]["version"]

    edited = await office.edit(job_id, notes="ลูกค้าขอให้โทรก่อน · call first")
    assert edited.status_code == 200, edited.text
    assert edited.json()["job"]["version"] > offline_since
    from_the_lead = lead.remark(job_id, "สุนัขอยู่ในสวน · dog in the garden")
    from_the_member = member.remark(job_id, "key under the mat")
    assert (await lead.sync(remarks=[from_the_lead]))["synced"] == [from_the_lead["mutationId"]]
    assert (await member.sync(remarks=[from_the_member]))["synced"] == [
        from_the_member["mutationId"]
    ]

    detail = parse_answer(JobDetail, await lead.job(job_id))
    assert detail.job.notes == "ลูกค้าขอให้โทรก่อน · call first"
    assert [(r.author_id, r.author_name, r.text) for r in detail.remarks] == [
        (lead.user["id"], "Lead Lek", "สุนัขอยู่ในสวน · dog in the garden"),
        (member.user["id"], "ช่างน้อย", "key under the mat"),
    ]
    assert detail.remarks[0].created_at <= detail.remarks[1].created_at
    assert (await member.job(job_id))["remarks"] == (await lead.job(job_id))["remarks"]
    seen_by_office = await client.get(f"{FEED}/{job_id}", headers=office.headers)
    assert [r["text"] for r in seen_by_office.json()["remarks"]] == [
        "สุนัขอยู่ในสวน · dog in the garden",
        "key under the mat",
    ]


async def test_a_remark_sent_twice_is_kept_once(phone: Phone) -> None:
    job_id = (await add_jobs(phone.user, 1))[0]["id"]
    batch = phone.batch(remarks=[phone.remark(job_id, "back door only")])
    await phone.send(batch)
    await phone.send(batch)
    assert [r["text"] for r in (await phone.job(job_id))["remarks"]] == ["back door only"]


async def test_a_stale_notes_edit_after_a_remark_is_merged(
    client: httpx.AsyncClient, ctx: AppContext, world: World, phone: Phone
) -> None:
    job_id = (await add_jobs(phone.user, 1, status="in_progress"))[0]["id"]
    version = (await phone.job(job_id))["job"]["version"]
    other_phone = Phone(client, ctx, phone.user)  # the same person's tablet
    remark = other_phone.remark(job_id, "ring twice")
    assert (await other_phone.sync(remarks=[remark]))["synced"] == [remark["mutationId"]]

    stale = phone.update(job_id, version, notes="เปิดประตูหลัง · use the back door")
    answer = parse_answer(SyncAnswer, await phone.sync(stale))

    assert answer.synced == [stale["mutationId"]] and answer.conflicts == []
    detail = await phone.job(job_id)
    assert detail["job"]["notes"] == "เปิดประตูหลัง · use the back door"
    assert [r["text"] for r in detail["remarks"]] == ["ring twice"]
    assert (await phone.receipt(stale["mutationId"]))["outcome"] == "merged", (
        "another device added to the job after the phone's version: its edit was merged"
    )


@pytest.mark.parametrize("text", ["", "x" * 1001])
async def test_a_remark_must_say_something_and_not_too_much(phone: Phone, text: str) -> None:
    job_id = (await add_jobs(phone.user, 1))[0]["id"]
    remark = phone.remark(job_id, text)
    answer = parse_answer(SyncAnswer, await phone.sync(remarks=[remark]))
    assert [(f.mutation_id, f.code) for f in answer.failed] == [
        (remark["mutationId"], "invalid_mutation")
    ]
    assert (await phone.job(job_id))["remarks"] == []


# Refusals, told once -------------------------------------------------------------------


async def test_a_refused_change_is_one_sync_rejected_fact_and_a_replay_adds_none(
    client: httpx.AsyncClient, ctx: AppContext, world: World, phone: Phone
) -> None:
    job = (await add_jobs(phone.user, 1, status="assigned"))[0]
    version = (await phone.job(job["id"]))["job"]["version"]
    refused = phone.update(job["id"], version, status="completed")  # a step skipped
    batch = phone.batch([refused])

    first = parse_answer(SyncAnswer, await phone.send(batch))
    again = parse_answer(SyncAnswer, await phone.send(batch))

    assert (
        [f.code for f in first.failed] == [f.code for f in again.failed] == ["invalid_transition"]
    )
    [fact] = await rejections(refused["mutationId"])
    assert fact["job_id"] is None
    assert str(fact["branch_id"]) == world.south
    assert fact["payload"] == {
        "userId": phone.user["id"],
        "deviceId": phone.device_id,
        "mutationId": refused["mutationId"],
        "kind": "update",
        "jobId": job["id"],
        "code": "invalid_transition",
        "message": first.failed[0].message,
    }


async def test_what_applies_or_conflicts_is_no_rejection(office: Dispatcher, phone: Phone) -> None:
    job_id = (await add_jobs(phone.user, 1, status="assigned"))[0]["id"]
    version = (await phone.job(job_id))["job"]["version"]
    assert (await office.edit(job_id, notes="office notes")).status_code == 200
    applied = phone.remark(job_id, "fine")
    conflicting = phone.update(job_id, version, notes="phone notes")
    answer = await phone.sync(conflicting, remarks=[applied])
    assert answer["synced"] == [applied["mutationId"]]
    assert [c["reason"] for c in answer["conflicts"]] == ["notes_changed"]
    assert await rejections(applied["mutationId"]) == []
    assert await rejections(conflicting["mutationId"]) == []
