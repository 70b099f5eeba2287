"""A phone whose session ends hears no more pushes: from outside, through the real routes and
the loopback push service. Two phones of one person sign in and subscribe; one is signed out,
revoked by the office, or loses its session to a reused refresh token; an assignment then
rings only the other. A subscription that raced its session's revocation is not sent to
either."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import PushSubscription
from server.push.worker import PushDispatcher, PushSender
from tests.push.push_service import PushService
from tests.push.test_web_push import pushes_settled, subscribe
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, bearer

LOGIN = "/api/mobile/auth/login"


@pytest.fixture
def settings_overrides(push_service: PushService) -> dict[str, Any]:
    return {"push_service_hosts": push_service.origin, "push_poll_seconds": 0.05}


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[None]:
    dispatcher = PushDispatcher(PushSender(ctx.vapid, ctx.settings), ctx.settings)
    dispatcher.start()
    yield
    await dispatcher.stop()


async def phone_signed_in(
    client: httpx.AsyncClient, ctx: AppContext, user: dict[str, Any], name: str
) -> dict[str, Any]:
    """A phone's session from a real sign-in: its tokens and its device id."""
    body = {"email": user["email"], "password": TEST_PASSWORD, "device": {"id": name}}
    answer = await client.post(LOGIN, json=body)
    assert answer.status_code == 200, answer.text
    client.cookies.clear()  # each phone speaks with its own bearer token
    session: dict[str, Any] = answer.json()
    return {
        **session,
        "headers": {"Authorization": f"Bearer {session['accessToken']}"},
        "deviceId": ctx.signer.read_access(session["accessToken"]).device_id,
    }


async def signed_out(client: httpx.AsyncClient, phone: dict[str, Any], office: Any) -> None:
    answer = await client.post("/api/mobile/auth/logout", headers=phone["headers"])
    assert answer.status_code == 204, answer.text


async def revoked_by_the_office(
    client: httpx.AsyncClient, phone: dict[str, Any], office: dict[str, str]
) -> None:
    answer = await client.delete(f"/api/dispatch/devices/{phone['deviceId']}", headers=office)
    assert answer.status_code == 204, answer.text


async def refresh_token_reused(
    client: httpx.AsyncClient, phone: dict[str, Any], office: Any
) -> None:
    body = {"refreshToken": phone["refreshToken"]}
    assert (await client.post("/api/mobile/auth/refresh", json=body)).status_code == 200
    client.cookies.clear()
    again = await client.post("/api/mobile/auth/refresh", json=body)
    assert again.status_code == 401, "a spent refresh token signs the device out"


ENDINGS = [signed_out, revoked_by_the_office, refresh_token_reused]


@pytest.mark.parametrize("end_session", ENDINGS, ids=lambda f: f.__name__)
async def test_a_phone_whose_session_ended_hears_no_more_pushes(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
    end_session: Any,
) -> None:
    push_service.vapid_public_key = ctx.vapid.public_key
    staff = await add_staff(world)
    kept = await phone_signed_in(client, ctx, staff, "kept-phone")
    lost = await phone_signed_in(client, ctx, staff, "lost-phone")
    kept_subscription = await subscribe(client, kept["headers"], push_service)
    lost_subscription = await subscribe(client, lost["headers"], push_service)
    office = bearer(ctx.signer, world.dispatcher)

    await end_session(client, lost, office)
    gone = await PushSubscription.exists().where(PushSubscription.id == lost_subscription["id"])
    assert not gone, "the session's subscription ended with it"

    [job] = await add_jobs(None, 1, status="pending", branch=world.south)
    assigned = await client.post(
        f"/api/dispatch/jobs/{job['id']}/assign", json={"assigneeId": staff["id"]}, headers=office
    )
    assert assigned.status_code == 200, assigned.text
    await push_service.wait_for(1)
    await pushes_settled(job_id=job["id"])
    assert [push.endpoint for push in push_service.received] == [kept_subscription["endpoint"]]


async def test_a_subscription_of_a_revoked_session_is_never_sent_to(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    """Defence in depth: a subscription kept for a session already revoked (it raced the
    revocation), or naming no session at all, is skipped when pushes are planned."""
    staff = await add_staff(world)
    kept = await phone_signed_in(client, ctx, staff, "kept-phone")
    lost = await phone_signed_in(client, ctx, staff, "lost-phone")
    office = bearer(ctx.signer, world.dispatcher)
    await revoked_by_the_office(client, lost, office)
    kept_subscription = await subscribe(client, kept["headers"], push_service)
    for device_id in (lost["deviceId"], None):
        raced = push_service.new_subscription()
        await PushSubscription.insert(
            PushSubscription(
                id=str(uuid.uuid4()),
                user_id=staff["id"],
                device_id=device_id,
                endpoint=raced["endpoint"],
                p256dh=raced["keys"]["p256dh"],
                auth=raced["keys"]["auth"],
            )
        )

    [job] = await add_jobs(None, 1, status="pending", branch=world.south)
    assigned = await client.post(
        f"/api/dispatch/jobs/{job['id']}/assign", json={"assigneeId": staff["id"]}, headers=office
    )
    assert assigned.status_code == 200, assigned.text
    await push_service.wait_for(1)
    await pushes_settled(job_id=job["id"])
    assert [push.endpoint for push in push_service.received] == [kept_subscription["endpoint"]]
