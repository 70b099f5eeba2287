"""``POST /api/mobile/sync``: at most once, each mutation on its own, in order, bounded, and
every outcome on record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import httpx
import pytest

from server.changes.queries import newest_change_id
from server.context import AppContext
from server.db.tables import DeviceSync
from server.sync.schemas import MutationKind, ReceiptsPage, SyncAnswer
from server.sync.service import MUTATION_MODELS
from tests.answers import parse_answer
from tests.phones import SYNC, Dispatcher, Phone, new_id
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return Phone(client, ctx, await add_staff(world))


async def test_the_same_batch_twice_applies_once_and_answers_the_same(
    phone: Phone,
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    items = [i["id"] for i in (await phone.job(job["id"]))["checklistItems"]]
    batch = phone.batch(
        [
            phone.update(job["id"], 1, status="en_route"),
            phone.update(job["id"], 1, notes="ring twice"),
            phone.update(job["id"], 1, checklist=[{"itemId": items[1], "done": True}]),
        ],
        check_ins=[phone.check_in(job["id"])],
    )

    first = await phone.send(batch)
    log_after_first = await newest_change_id()
    second = await phone.send(batch)

    parse_answer(SyncAnswer, first)
    assert first == second
    assert len(first["synced"]) == 4
    assert await newest_change_id() == log_after_first, "a replay wrote nothing"
    detail = await phone.job(job["id"])
    assert detail["job"]["status"] == "in_progress"  # the check-in moved it past en route
    assert detail["job"]["notes"] == "ring twice"
    assert detail["job"]["version"] == 4
    assert [i["done"] for i in detail["checklistItems"]][:2] == [False, True]
    assert len(await phone.receipts()) == 4


async def test_a_reused_mutation_id_with_another_body_is_failed_not_overwritten(
    phone: Phone,
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    original = phone.update(job["id"], 1, notes="first")
    await phone.sync(original)

    answer = await phone.sync(original | {"notes": "second"})

    assert answer["synced"] == []
    assert answer["failed"] == [
        {
            "mutationId": original["mutationId"],
            "code": "mutation_id_reused",
            "message": answer["failed"][0]["message"],
        }
    ]
    assert (await phone.job(job["id"]))["job"]["notes"] == "first"
    assert (await phone.receipt(original["mutationId"]))["outcome"] == "applied"


async def test_one_bad_mutation_never_sinks_the_batch(phone: Phone, world: World) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    someone_elses = world.jobs[world.staff_b["id"]][0]
    good = phone.update(job["id"], 1, notes="fine")
    bad = {
        "not a uuid": phone.update("nope", 1, notes="x"),
        "missing job": phone.update("00000000-0000-4000-8000-000000000000", 1, notes="x"),
        "foreign job": phone.update(someone_elses, 1, notes="x"),
        "bad status": phone.update(job["id"], 1, status="teleported"),
        "no change": phone.update(job["id"], 1),
        "bad time": phone.update(job["id"], 1, notes="x") | {"clientTimestamp": "yesterday"},
        "unknown item": phone.update(job["id"], 1, checklist=[{"itemId": new_id(), "done": True}]),
        "future version": phone.update(job["id"], 99, notes="x"),
        "extra field": phone.update(job["id"], 1, notes="x") | {"priority": "urgent"},
    }
    answer = await phone.sync(*bad.values(), good)

    assert answer["synced"] == [good["mutationId"]]
    codes = {m["mutationId"]: m["code"] for m in answer["failed"]}
    assert {name: codes[m["mutationId"]] for name, m in bad.items()} == {
        "not a uuid": "job_not_found",
        "missing job": "job_not_found",
        "foreign job": "job_not_found",
        "bad status": "invalid_mutation",
        "no change": "invalid_mutation",
        "bad time": "invalid_mutation",
        "unknown item": "unknown_checklist_item",
        "future version": "invalid_base_version",
        "extra field": "invalid_mutation",
    }
    messages = {m["mutationId"]: m["message"] for m in answer["failed"]}
    assert messages[bad["foreign job"]["mutationId"]] == messages[bad["missing job"]["mutationId"]]
    assert (await phone.job(job["id"]))["job"]["notes"] == "fine"


async def test_mutations_of_one_job_apply_in_the_order_sent(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    steps = [
        phone.update(job["id"], 1, status=status)
        for status in ("en_route", "in_progress", "completed")
    ]
    answer = await phone.sync(*steps)
    assert answer["synced"] == [s["mutationId"] for s in steps]
    assert (await phone.job(job["id"]))["job"]["status"] == "completed"

    other = (await add_jobs(phone.user, 1))[0]
    backwards = [phone.update(other["id"], 1, status=s) for s in ("in_progress", "en_route")]
    answer = await phone.sync(*backwards)
    assert [f["code"] for f in answer["failed"]] == ["invalid_transition"]
    assert answer["synced"] == [backwards[1]["mutationId"]]


async def test_staff_cannot_change_another_persons_job_through_sync(
    phone: Phone, world: World, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    theirs = world.jobs[world.staff_b["id"]][0]
    owner = Phone(client, ctx, world.staff_b)
    before = (await owner.job(theirs))["job"]
    answer = await phone.sync(
        phone.update(theirs, before["version"], notes="mine now"),
        check_ins=[phone.check_in(theirs)],
    )
    assert answer["synced"] == []
    assert {f["code"] for f in answer["failed"]} == {"job_not_found"}
    assert (await owner.job(theirs))["job"] == before


async def test_a_batch_of_a_thousand_mutations_is_handled(phone: Phone) -> None:
    jobs = await add_jobs(phone.user, 10)
    updates = [phone.update(jobs[n % 10]["id"], 1, notes=f"note {n}") for n in range(1000)]
    answer = await phone.sync(*updates)
    assert len(answer["synced"]) == 1000
    assert (await phone.job(jobs[9]["id"]))["job"]["notes"] == "note 999"
    assert (await phone.job(jobs[9]["id"]))["job"]["version"] == 101


async def test_limits_and_malformed_batches(phone: Phone, ctx: AppContext) -> None:
    job_id = new_id()
    too_many = phone.batch([phone.update(job_id, 1, notes="x") for _ in range(1001)])
    response = await phone.client.post(SYNC, json=too_many, headers=phone.headers)
    assert_problem(response, 413, "payload_too_large")

    huge = phone.batch([phone.update(job_id, 1, notes="x")]) | {"padding": "x" * 5_000_000}
    response = await phone.client.post(SYNC, json=huge, headers=phone.headers)
    assert_problem(response, 413, "payload_too_large")

    for body, field in (
        ({"pendingUpdates": []}, "deviceId"),
        (phone.batch() | {"pendingUpdates": "soon"}, "pendingUpdates"),
        (phone.batch() | {"deviceTime": "1764300000"}, "deviceTime"),
        (phone.batch([{"jobId": job_id, "notes": "x"}]), "body"),
    ):
        response = await phone.client.post(SYNC, json=body, headers=phone.headers)
        problem = assert_problem(response, 422, "validation_failed")
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem

    response = await phone.client.post(
        SYNC, content=b'{"deviceId": ', headers=phone.headers | {"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")
    assert (await phone.receipts()) == [], "nothing was accepted from refused batches"


async def test_the_device_clock_is_measured_and_client_times_from_the_future_clamped(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    fast = Phone(client, ctx, await add_staff(world), clock_offset=timedelta(hours=3))
    job = (await add_jobs(fast.user, 1))[0]
    mutation = fast.update(job["id"], 1, notes="from the future")
    before = datetime.now(UTC)
    await fast.sync(mutation)

    row = await DeviceSync.select().where(DeviceSync.device_id == fast.device_id).first().run()
    assert row is not None
    assert 3 * 3600 - 60 < row["clock_skew_seconds"] < 3 * 3600 + 60
    receipt = await fast.receipt(mutation["mutationId"])
    client_time = datetime.fromisoformat(receipt["clientTime"])
    received = datetime.fromisoformat(receipt["receivedAt"])
    assert client_time <= received
    assert abs((client_time - before).total_seconds()) < 60, "corrected by the measured skew"


async def test_receipts_page_through_every_outcome(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    mutations = [phone.update(job["id"], 1, notes=f"n{n}") for n in range(5)]
    await phone.sync(*mutations, phone.update(job["id"], 1, status="completed"))

    first = await phone.client.get(
        "/api/mobile/sync/receipts", params={"limit": 4}, headers=phone.headers
    )
    page = parse_answer(ReceiptsPage, first.json())
    assert page.has_more
    rest = await phone.client.get(
        "/api/mobile/sync/receipts", params={"since": page.cursor}, headers=phone.headers
    )
    receipts = page.receipts + parse_answer(ReceiptsPage, rest.json()).receipts
    assert [r.mutation_id for r in receipts][:5] == [m["mutationId"] for m in mutations]
    assert [r.outcome for r in receipts] == ["applied"] * 5 + ["rejected"]
    assert receipts[-1].code == "invalid_transition"
    cached = await phone.client.get(
        "/api/mobile/sync/receipts",
        params={"since": page.cursor},
        headers=phone.headers | {"If-None-Match": rest.headers["etag"]},
    )
    assert cached.status_code == 304
    for since in ("-1", "abc", "1e3"):
        bad = await phone.client.get(
            "/api/mobile/sync/receipts", params={"since": since}, headers=phone.headers
        )
        assert_problem(bad, 400, "invalid_cursor")


async def test_receipts_are_each_users_own(phone: Phone, world: World, ctx: AppContext) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    await phone.sync(phone.update(job["id"], 1, notes="private"))
    other = Phone(phone.client, ctx, await add_staff(world))
    assert await other.receipts() == []


async def test_a_former_assignee_learns_the_job_left_and_nothing_more(
    phone: Phone, world: World, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    taker = await add_staff(world)
    dispatcher = Dispatcher(client, ctx, world.dispatcher)
    assert (await dispatcher.assign(job["id"], taker["id"])).status_code == 200
    assert (await dispatcher.edit(job["id"], notes="new gate code 9999")).status_code == 200

    offline_edit = await phone.sync(phone.update(job["id"], 1, notes="done the bins"))
    [conflict] = offline_edit["conflicts"]
    assert conflict["reason"] == "job_reassigned"
    assert conflict["job"] == {"id": job["id"], "removed": True}, "that it left, no more"
    assert taker["id"] not in str(offline_edit) and "9999" not in str(offline_edit)

    after_it_left = await phone.sync(
        phone.update(job["id"], 3, notes="x"), check_ins=[phone.check_in(job["id"])]
    )
    assert {f["code"] for f in after_it_left["failed"]} == {"job_not_found"}
    assert after_it_left["conflicts"] == [] and "9999" not in str(after_it_left)
    response = await client.post(
        f"/api/mobile/jobs/{job['id']}/checkin",
        json={k: v for k, v in phone.check_in(job["id"]).items() if k != "jobId"},
        headers=phone.headers,
    )
    assert_problem(response, 404, "job_not_found")
    kept = await client.get(f"/api/mobile/jobs/{job['id']}", headers=dispatcher.headers)
    assert kept.json()["job"]["notes"] == "new gate code 9999"


async def test_only_the_assignee_walks_a_job_along_its_steps(
    phone: Phone, world: World, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    dispatcher = Phone(client, ctx, world.dispatcher)
    answer = await dispatcher.sync(
        dispatcher.update(job["id"], 1, status="en_route"),
        check_ins=[dispatcher.check_in(job["id"])],
    )
    assert [f["code"] for f in answer["failed"]] == ["invalid_transition"]
    assert len(answer["synced"]) == 1, "the dispatcher's check-in is recorded"
    assert (await phone.job(job["id"]))["job"]["status"] == "assigned"
    cancel = await dispatcher.sync(dispatcher.update(job["id"], 1, status="cancelled"))
    assert len(cancel["synced"]) == 1
    assert (await phone.job(job["id"]))["job"]["status"] == "cancelled"


async def test_text_the_database_cannot_store_is_refused_per_mutation(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    good = phone.update(job["id"], 1, notes="สองบรรทัด\ntwo lines\ttabbed")
    bad = [
        phone.update(job["id"], 1, notes="a\u0000b"),
        phone.update(job["id"], 1, checklist=[{"itemId": "a\u0000", "done": True}]),
        phone.update(job["id"], 1, checklist=[{"itemId": new_id(), "done": "no"}]),
        phone.update(job["id"], True, notes="x"),
        phone.check_in(job["id"], location={"lat": True, "lng": 100.5}),
        phone.check_in(job["id"], accuracy="10"),
    ]
    answer = await phone.sync(*bad[:4], good, check_ins=bad[4:])
    assert answer["synced"] == [good["mutationId"]]
    assert [f["code"] for f in answer["failed"]] == ["invalid_mutation"] * 6
    assert (await phone.job(job["id"]))["job"]["notes"] == "สองบรรทัด\ntwo lines\ttabbed"

    for mutation_id in ("a" * 128 + "\n", "a" * 129, "has space"):
        response = await phone.client.post(
            SYNC,
            json=phone.batch([phone.update(job["id"], 2, notes="x") | {"mutationId": mutation_id}]),
            headers=phone.headers,
        )
        assert_problem(response, 422, "validation_failed")
    response = await phone.client.post(
        SYNC, json=phone.batch() | {"surprise": 1}, headers=phone.headers
    )
    assert_problem(response, 422, "validation_failed")


def test_every_kind_a_batch_carries_is_a_published_receipt_kind() -> None:
    assert set(get_args(MutationKind)) == set(MUTATION_MODELS)
