"""The per-device key that seals what the app keeps offline, and signing a lost phone out.

The same person on the same phone always gets the same key back (changes waiting in its
outbox stay readable after signing in again); anyone else, or a revoked phone, does not.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.auth.schemas import OfflineKeyOut
from server.context import AppContext
from tests.answers import parse_answer
from tests.problems import assert_problem
from tests.world import TEST_PASSWORD, World, add_staff, bearer

KEY_URL = "/api/mobile/auth/offline-key"


async def signed_in(client: httpx.AsyncClient, user: dict[str, Any], phone: str) -> dict[str, Any]:
    answer = await client.post(
        "/api/mobile/auth/login",
        json={"email": user["email"], "password": TEST_PASSWORD, "device": {"id": phone}},
    )
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


def auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}


async def key_of(client: httpx.AsyncClient, session: dict[str, Any]) -> bytes:
    answer = await client.get(KEY_URL, headers=auth(session))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["algorithm"] == "AES-GCM"
    return base64.urlsafe_b64decode(body["key"] + "=" * (-len(body["key"]) % 4))


async def test_the_same_phone_gets_its_key_back_and_no_one_else_has_it(
    client: httpx.AsyncClient, world: World
) -> None:
    staff, other = await add_staff(world), await add_staff(world)
    first = await key_of(client, await signed_in(client, staff, "phone-1"))
    again = await key_of(client, await signed_in(client, staff, "phone-1"))
    second_phone = await key_of(client, await signed_in(client, staff, "phone-2"))
    someone_else = await key_of(client, await signed_in(client, other, "phone-1"))

    assert len(first) == 32
    assert again == first, "signing in again keeps waiting changes readable"
    assert len({first, second_phone, someone_else}) == 3


async def test_a_revoked_phone_loses_its_key_and_its_session(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    session = await signed_in(client, staff, "lost-phone")
    device_id = ctx.signer.read_access(session["accessToken"]).device_id
    await key_of(client, session)

    revoked = await client.delete(
        f"/api/dispatch/devices/{device_id}", headers=bearer(ctx.signer, world.dispatcher)
    )

    assert revoked.status_code == 204
    assert_problem(await client.get(KEY_URL, headers=auth(session)), 401, "session_revoked")
    refresh = await client.post(
        "/api/mobile/auth/refresh", json={"refreshToken": session["refreshToken"]}
    )
    assert refresh.status_code == 401
    listed = await client.get("/api/dispatch/devices", headers=bearer(ctx.signer, world.admin))
    assert device_id not in {device["id"] for device in listed.json()["devices"]}


async def test_only_the_branch_dispatcher_or_an_admin_may_revoke_a_phone(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    north = await add_staff(world, branch="north")
    device_id = ctx.signer.read_access(
        (await signed_in(client, north, "north-phone"))["accessToken"]
    ).device_id
    url = f"/api/dispatch/devices/{device_id}"

    assert_problem(
        await client.delete(url, headers=bearer(ctx.signer, world.dispatcher)),
        404,
        "device_not_found",
    )
    assert_problem(
        await client.delete(url, headers=bearer(ctx.signer, world.staff_a)), 403, "role_forbidden"
    )
    assert_problem(
        await client.delete(
            "/api/dispatch/devices/not-a-device", headers=bearer(ctx.signer, world.admin)
        ),
        404,
        "device_not_found",
    )
    assert (await client.delete(url, headers=bearer(ctx.signer, world.admin))).status_code == 204
    assert_problem(
        await client.delete(url, headers=bearer(ctx.signer, world.admin)), 404, "device_not_found"
    )


async def test_the_key_says_whose_it_is_and_when_the_server_issued_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """The app measures its 48 hours offline from the server's time, not the phone's clock."""
    staff = await add_staff(world)
    before = datetime.now(UTC)
    answer = await client.get(KEY_URL, headers=auth(await signed_in(client, staff, "phone-1")))
    body = parse_answer(OfflineKeyOut, answer.json())
    assert body.user_id == staff["id"]
    assert before - timedelta(seconds=1) <= body.issued_at <= datetime.now(UTC)
    assert body.issued_at.utcoffset() is not None
