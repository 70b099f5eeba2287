"""What a change to a person by the office CRM sets off at once: ``active: false`` signs them
out of every device (tokens refused from the next request, refresh refused, live streams
ended, push subscriptions gone) and hands their not-started jobs back to the office; a new
role, branch or team holds from their next request with the token they already hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from server.changes import queries as change_queries
from server.changes.service import ChangeMirror, Placement
from server.context import AppContext
from server.db.tables import PushSubscription
from server.live.hub import Subscriber
from tests.integration.conftest import KeyMaker
from tests.integration.test_people import auth, crm_person, placed, put, sign_in
from tests.live_clients import until
from tests.problems import assert_problem
from tests.push.test_subscriptions import SUBSCRIPTIONS, browser_subscription
from tests.world import World, add_jobs, bearer

FEED = "/api/mobile/jobs"


def live_stream(ctx: AppContext, session: dict[str, Any]) -> Subscriber:
    """A live stream of the session's as the hub holds it (the stream itself is tested over
    real sockets in tests/live: in-process clients cannot read one as it goes)."""
    return ctx.hub.subscribe(ctx.authenticate(session["accessToken"]))


def as_user(person: dict[str, Any], branch_id: str) -> dict[str, Any]:
    """The person as tests/world.py's factories take one."""
    return {"id": person["id"], "branch": branch_id}


async def test_deactivation_signs_out_everywhere_and_hands_back_unstarted_jobs(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    phone = await sign_in(client, person, "phone")
    tablet = await sign_in(client, person, "tablet")
    subscribed = await client.post(SUBSCRIPTIONS, json=browser_subscription(), headers=auth(phone))
    assert subscribed.status_code == 201, subscribed.text
    stream = live_stream(ctx, tablet)
    branch_id = await _branch_uuid(client, headers, branch)
    unstarted = await add_jobs(as_user(person, branch_id), 2, status="assigned")
    under_way = await add_jobs(as_user(person, branch_id), 1, status="in_progress")

    body = person["body"] | {"active": False}
    answer = await put(client, f"staff/{person['externalId']}", body, headers)
    assert answer.status_code == 200 and answer.json()["staff"]["active"] is False

    for session in (phone, tablet):
        assert_problem(await client.get(FEED, headers=auth(session)), 401, "session_revoked")
        refresh = {"refreshToken": session["refreshToken"]}
        refused = await client.post("/api/mobile/auth/refresh", json=refresh)
        assert_problem(refused, 401, "session_revoked")
    login = {"email": person["email"], "password": "anything at all", "device": {"id": "x"}}
    assert_problem(
        await client.post("/api/mobile/auth/login", json=login), 401, "invalid_credentials"
    )
    await until(lambda: stream.ended is not None, "the live stream to end")
    assert stream.ended == "session_revoked"
    assert await PushSubscription.count().where(PushSubscription.user_id == person["id"]) == 0

    admin = bearer(ctx.signer, world.admin)
    for job in unstarted:
        shown = (await client.get(f"{FEED}/{job['id']}", headers=admin)).json()["job"]
        assert (shown["status"], shown["assigneeId"]) == ("pending", None)
    kept = (await client.get(f"{FEED}/{under_way[0]['id']}", headers=admin)).json()["job"]
    assert (kept["status"], kept["assigneeId"]) == ("in_progress", person["id"])
    rows = await change_queries.job_histories([job["id"] for job in unstarted])
    handed_back = [row for row in rows if row["payload"].get("reason") == "assignee_deactivated"]
    assert len(handed_back) == 2


async def test_reactivation_lets_them_sign_in_again_but_old_tokens_stay_refused(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    before = await sign_in(client, person, "phone")
    path = f"staff/{person['externalId']}"
    await put(client, path, person["body"] | {"active": False}, headers)
    again = await put(client, path, person["body"], headers)
    assert again.status_code == 200 and again.json()["staff"]["version"] == 3
    after = await sign_in(client, person, "phone")
    assert (await client.get(FEED, headers=auth(after))).status_code == 200
    assert_problem(await client.get(FEED, headers=auth(before)), 401, "session_revoked")


async def test_a_dispatcher_moved_to_another_branch_sees_it_with_the_same_token(
    client: httpx.AsyncClient, ctx: AppContext, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    first, _ = await placed(client, headers)
    second, _ = await placed(client, headers)
    first_jobs = await add_jobs(
        None, 2, status="pending", branch=await _branch_uuid(client, headers, first)
    )
    second_jobs = await add_jobs(
        None, 3, status="pending", branch=await _branch_uuid(client, headers, second)
    )
    person = await crm_person(client, headers, first, None, role="dispatcher")
    session = await sign_in(client, person, "office-pc")
    stream = live_stream(ctx, session)

    def shown(answer: httpx.Response) -> set[str]:
        return {job["id"] for job in answer.json()["jobs"]}

    assert shown(await client.get(FEED, headers=auth(session))) == {j["id"] for j in first_jobs}
    moved = person["body"] | {"branchExternalId": second}
    assert (await put(client, f"staff/{person['externalId']}", moved, headers)).status_code == 200

    assert shown(await client.get(FEED, headers=auth(session))) == {j["id"] for j in second_jobs}
    await until(lambda: stream.ended is not None, "the moved person's stream to end")
    assert stream.ended == "session_changed"
    reopened = live_stream(ctx, session)
    assert reopened.principal.branch_id == await _branch_uuid(client, headers, second)
    assert reopened.ended is None

    placement = ctx.mirror.placement_of(person["id"])
    assert placement is not None and placement.role == "dispatcher"
    restarted = ChangeMirror(timedelta(minutes=16))
    await restarted.load()
    assert restarted.placement_of(person["id"]) == placement, "a new worker knows it too"


async def test_staff_made_dispatcher_get_the_office_s_answers_at_once(
    client: httpx.AsyncClient, ctx: AppContext, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    session = await sign_in(client, person, "phone")
    devices = "/api/dispatch/devices"
    assert_problem(await client.get(devices, headers=auth(session)), 403, "role_forbidden")
    promoted = person["body"] | {"role": "dispatcher", "teamExternalId": None}
    assert (await put(client, f"staff/{person['externalId']}", promoted, headers)).is_success
    assert (await client.get(devices, headers=auth(session))).status_code == 200

    facts = [
        row["payload"]
        for row in await change_queries.changes_after(0, 1_000_000)
        if row["kind"] == "user.changed" and row["payload"]["userId"] == person["id"]
    ]
    branch_id = await _branch_uuid(client, headers, branch)
    assert facts == [
        {"userId": person["id"], "role": "dispatcher", "branchId": branch_id, "teamId": None}
    ]
    assert ctx.mirror.placement_of(person["id"]) == Placement("dispatcher", branch_id, None)


async def test_a_change_of_name_alone_changes_no_session(
    client: httpx.AsyncClient, ctx: AppContext, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    session = await sign_in(client, person, "phone")
    renamed = person["body"] | {"name": "Somying K."}
    assert (await put(client, f"staff/{person['externalId']}", renamed, headers)).is_success
    assert ctx.mirror.placement_of(person["id"]) is None
    assert (await client.get(FEED, headers=auth(session))).status_code == 200


async def _branch_uuid(client: httpx.AsyncClient, headers: dict[str, str], branch: str) -> str:
    answer = await client.get(f"/api/integration/v1/branches/{branch}", headers=headers)
    return str(answer.json()["branch"]["id"])
