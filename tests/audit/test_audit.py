"""The audit trail: each act leaves exactly one event, in its own transaction, naming who did
it, to what, in which request; a failed act leaves none; only admins read it, page by page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.audit import service as audit
from server.audit.schemas import AuditPage
from server.context import AppContext
from server.db.engine import write_transaction
from server.db.tables import AuditEvent
from server.integration.keys import create_api_key, revoke_api_key
from tests.answers import parse_answer
from tests.audit.conftest import events_on, traced
from tests.phones import DISPATCH, Dispatcher
from tests.problems import assert_problem
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, add_user, bearer

AUDIT = "/api/admin/audit"
LOGIN = "/api/mobile/auth/login"
REFRESH = "/api/mobile/auth/refresh"
LOGOUT = "/api/mobile/auth/logout"
CRM = "/api/integration/v1"


@pytest.fixture
def dispatcher(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Dispatcher:
    return Dispatcher(client, ctx, world.dispatcher)


def assert_one(
    events: list[dict[str, Any]], action: str, actor: str | None, request_id: str | None
) -> dict[str, Any]:
    assert [e["action"] for e in events] == [action], events
    event = events[0]
    assert (event["actor_id"] and str(event["actor_id"])) == actor
    assert event["request_id"] == request_id
    return event


async def test_each_dispatch_write_leaves_one_event_with_actor_target_and_request(
    client: httpx.AsyncClient, world: World, dispatcher: Dispatcher
) -> None:
    first, second = await add_staff(world), await add_staff(world)
    job = (await add_jobs(None, 1, status="pending", branch=world.south))[0]["id"]
    me = world.dispatcher["id"]
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", f"{DISPATCH}/{job}/assign", {"assigneeId": first["id"]}, "job.assigned"),
        ("POST", f"{DISPATCH}/{job}/assign", {"assigneeId": second["id"]}, "job.reassigned"),
        ("PATCH", f"{DISPATCH}/{job}", {"priority": "urgent"}, "job.reprioritised"),
        ("PATCH", f"{DISPATCH}/{job}", {"status": "cancelled"}, "job.cancelled"),
    ]
    for method, url, body, action in steps:
        headers = traced() | dispatcher.headers
        answer = await client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        event = assert_one((await events_on(job))[-1:], action, me, headers["X-Request-Id"])
        assert event["actor_kind"] == "user" and event["target_kind"] == "job"
        assert str(event["branch_id"]) == world.south
    assert len(await events_on(job)) == len(steps)


async def test_creating_and_reopening_a_job_are_audited(
    client: httpx.AsyncClient, world: World, dispatcher: Dispatcher
) -> None:
    done = (await add_jobs(await add_staff(world), 1, status="completed"))[0]
    headers = traced() | dispatcher.headers
    reopened = await client.post(
        f"{DISPATCH}/{done['id']}/reopen", json={"reason": "missed a room"}, headers=headers
    )
    assert reopened.status_code == 200, reopened.text
    assert_one(
        await events_on(done["id"]), "job.reopened", world.dispatcher["id"], headers["X-Request-Id"]
    )

    headers = traced() | dispatcher.headers
    new = {
        "customerId": str(done["customer"]),
        "serviceType": "Deep clean",
        "scheduledDate": "2026-12-30T09:00:00+07:00",
    }
    created = await client.post(DISPATCH, json=new, headers=headers)
    assert created.status_code == 201, created.text
    job_id = created.json()["job"]["id"]
    assert_one(
        await events_on(job_id), "job.created", world.dispatcher["id"], headers["X-Request-Id"]
    )


async def test_a_failed_act_leaves_no_event(
    client: httpx.AsyncClient, world: World, dispatcher: Dispatcher
) -> None:
    job = (await add_jobs(await add_staff(world), 1, status="assigned"))[0]["id"]
    north_staff = await add_staff(world, "north")
    refused = await dispatcher.assign(job, north_staff["id"])
    assert_problem(refused, 422, "validation_failed")
    not_done = await client.post(
        f"{DISPATCH}/{job}/reopen", json={"reason": "no"}, headers=dispatcher.headers
    )
    assert_problem(not_done, 409, "invalid_transition")
    assert await events_on(job) == []


async def test_an_act_and_its_event_commit_or_roll_back_together(world: World) -> None:
    target = "rolled-back-act"

    class ActFailed(Exception):
        pass

    with pytest.raises(ActFailed):
        async with write_transaction():
            await audit.record(audit.SYSTEM, "job.updated", "job", target)
            raise ActFailed()
    assert await events_on(target) == []
    with pytest.raises(audit.NotInTransaction):
        await audit.record(audit.SYSTEM, "job.updated", "job", target)
    assert await events_on(target) == []


async def test_team_updates_and_push_messages_are_audited(
    client: httpx.AsyncClient, world: World, dispatcher: Dispatcher
) -> None:
    headers = traced() | dispatcher.headers
    sent = await client.post(
        "/api/dispatch/team-updates",
        json={"teamId": world.south_team, "message": "gate code 4321"},
        headers=headers,
    )
    assert sent.status_code == 202, sent.text
    team_events = [
        e for e in await events_on(world.south_team) if e["request_id"] == headers["X-Request-Id"]
    ]
    assert_one(team_events, "team.update_sent", world.dispatcher["id"], headers["X-Request-Id"])

    headers = traced() | dispatcher.headers
    queued = await client.post(
        "/api/mobile/notifications/send",
        json={"teamId": world.south_team, "title": "Rain", "body": "Bring covers"},
        headers=headers,
    )
    assert queued.status_code == 202, queued.text
    notification = queued.json()["notificationId"]
    assert_one(
        await events_on(notification),
        "notification.sent",
        world.dispatcher["id"],
        headers["X-Request-Id"],
    )


async def sign_in(client: httpx.AsyncClient, user: dict[str, Any], device: str) -> dict[str, Any]:
    body = {"email": user["email"], "password": TEST_PASSWORD, "device": {"id": device}}
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def device_of(ctx: AppContext, session: dict[str, Any]) -> str:
    return ctx.signer.read_access(session["accessToken"]).device_id


async def test_device_revocations_are_audited_with_who_revoked(
    client: httpx.AsyncClient, ctx: AppContext, world: World, dispatcher: Dispatcher
) -> None:
    staff = await add_staff(world)
    lost = await sign_in(client, staff, "lost-phone")
    headers = traced() | dispatcher.headers
    revoked = await client.delete(f"/api/dispatch/devices/{device_of(ctx, lost)}", headers=headers)
    assert revoked.status_code == 204, revoked.text
    event = assert_one(
        await events_on(device_of(ctx, lost)),
        "device.revoked",
        world.dispatcher["id"],
        headers["X-Request-Id"],
    )
    assert event["detail"] == {"userId": staff["id"], "reason": "revoked"}

    left = await sign_in(client, staff, "own-phone")
    bye = await client.post(LOGOUT, headers={"Authorization": f"Bearer {left['accessToken']}"})
    assert bye.status_code == 204, bye.text
    event = assert_one(await events_on(device_of(ctx, left)), "device.revoked", staff["id"], None)
    assert event["detail"]["reason"] == "signed_out"

    stolen = await sign_in(client, staff, "cloned-phone")
    for _ in range(2):
        await client.post(REFRESH, json={"refreshToken": stolen["refreshToken"]})
    event = assert_one(await events_on(device_of(ctx, stolen)), "device.revoked", None, None)
    assert (event["actor_kind"], event["detail"]["reason"]) == ("system", "refresh_token_reused")


async def test_the_crm_s_role_changes_and_deactivations_are_audited_with_its_key(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    made = await create_api_key("audit-tests", ["people:write"])
    key = {"Authorization": f"Bearer {made.key}"}
    key_id = made.record["id"]
    branch = await client.put(f"{CRM}/branches/br-audit", json={"name": "Bang Na"}, headers=key)
    assert branch.is_success
    person = {
        "email": "audit.person@example.com",
        "name": "Audit Person",
        "role": "staff",
        "branchExternalId": "br-audit",
        "active": True,
    }
    url = f"{CRM}/staff/st-audit"
    created = await client.put(url, json=person, headers=traced() | key)
    assert created.status_code == 201, created.text
    user_id = created.json()["staff"]["id"]
    headers = traced() | key
    promoted = await client.put(url, json=person | {"role": "dispatcher"}, headers=headers)
    assert promoted.status_code == 200, promoted.text
    headers_off = traced() | key
    off = await client.put(
        url, json=person | {"role": "dispatcher", "active": False}, headers=headers_off
    )
    assert off.status_code == 200, off.text
    unchanged = await client.put(
        url, json=person | {"role": "dispatcher", "active": False}, headers=traced() | key
    )
    assert unchanged.status_code == 200

    events = await events_on(user_id)
    assert [e["action"] for e in events] == [
        "user.created",
        "user.role_changed",
        "user.deactivated",
    ]
    assert {(e["actor_kind"], str(e["actor_id"])) for e in events} == {("api_key", key_id)}
    assert events[1]["request_id"] == headers["X-Request-Id"]
    assert events[1]["detail"] == {"fields": ["role"], "role": ["staff", "dispatcher"]}
    assert events[2]["detail"]["active"] == [True, False]
    assert events[2]["request_id"] == headers_off["X-Request-Id"]


async def test_api_keys_made_and_revoked_are_audited(app: Any) -> None:
    made = await create_api_key("audit-key", ["jobs:read"])
    assert await revoke_api_key(made.record["id"]) == 1
    events = await events_on(made.record["id"])
    assert [(e["action"], e["actor_kind"]) for e in events] == [
        ("api_key.created", "system"),
        ("api_key.revoked", "system"),
    ]
    assert events[0]["detail"] == {"name": "audit-key", "scopes": ["jobs:read"]}


async def test_only_admins_read_the_trail(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    for user in (world.staff_a, world.dispatcher):
        refused = await client.get(AUDIT, headers=bearer(ctx.signer, user))
        assert_problem(refused, 403, "role_forbidden")
    assert (await client.get(AUDIT)).status_code == 401
    answer = await client.get(AUDIT, headers=bearer(ctx.signer, world.admin))
    assert answer.status_code == 200, answer.text
    parse_answer(AuditPage, answer.json())


async def test_the_trail_pages_newest_first_by_target_and_actor(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    actor = await add_user("admin", None, None)
    async with write_transaction():
        for n in range(5):
            await audit.record(
                audit.AuditActor.user(actor["id"]), "job.updated", "job", "paged", detail={"n": n}
            )
        await audit.record(audit.SYSTEM, "job.updated", "job", "paged")
    admin = bearer(ctx.signer, world.admin)
    seen: list[int] = []
    after: int | None = None
    while True:
        query: dict[str, Any] = {
            "targetKind": "job",
            "targetId": "paged",
            "actorId": actor["id"],
            "limit": 2,
        }
        if after is not None:
            query["after"] = after
        page = (await client.get(AUDIT, params=query, headers=admin)).json()
        seen += [event["detail"]["n"] for event in page["events"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [4, 3, 2, 1, 0]
    everyone = await client.get(AUDIT, params={"targetId": "paged"}, headers=admin)
    assert len(everyone.json()["events"]) == 6
    wrong = await client.get(AUDIT, params={"actorId": "nobody"}, headers=admin)
    assert_problem(wrong, 422, "validation_failed")
    rows = await AuditEvent.count().where(AuditEvent.target_id == "paged").run()
    assert rows == 6


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_allowed_origins": "http://127.0.0.1:9", "webhook_senders": 0}


async def test_the_crm_s_webhook_changes_are_audited_with_its_key(
    client: httpx.AsyncClient, world: World
) -> None:
    made = await create_api_key("audit-hooks", ["webhooks:manage"])
    key = {"Authorization": f"Bearer {made.key}"}
    hooks = f"{CRM}/webhooks"
    body = {"url": "http://127.0.0.1:9/hooks?token=crm-secret", "events": ["job.created"]}
    headers = traced() | key
    created = await client.post(hooks, json=body, headers=headers)
    assert created.status_code == 201, created.text
    hook = created.json()["id"]
    changed = await client.patch(f"{hooks}/{hook}", json={"description": "CRM"}, headers=key)
    assert changed.status_code == 200, changed.text
    assert (await client.post(f"{hooks}/{hook}/rotate-secret", headers=key)).status_code == 200
    assert (await client.delete(f"{hooks}/{hook}", headers=key)).status_code == 204

    events = await events_on(hook)
    assert [e["action"] for e in events] == [
        "webhook.created",
        "webhook.changed",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert {(e["actor_kind"], str(e["actor_id"])) for e in events} == {
        ("api_key", made.record["id"])
    }
    assert events[0]["request_id"] == headers["X-Request-Id"]
    assert events[0]["detail"] == {"origin": "http://127.0.0.1:9", "events": ["job.created"]}
    assert "crm-secret" not in str(events)
