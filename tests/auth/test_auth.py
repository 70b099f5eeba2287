"""Sign-in, refresh rotation with reuse detection, sign-out, cookies and CSRF, throttling."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from server.auth.passwords import DEMO_PASSWORD, hash_password
from server.auth.schemas import LoginResponse
from server.context import AppContext
from server.core.access import Principal, Role
from server.db.tables import Device, PushSubscription
from server.http.endpoint import ACCESS_COOKIE, REFRESH_COOKIE
from server.people import queries as people_queries
from tests.answers import parse_answer
from tests.problems import assert_problem
from tests.world import TEST_PASSWORD, World, add_staff

LOGIN = "/api/mobile/auth/login"
REFRESH = "/api/mobile/auth/refresh"
LOGOUT = "/api/mobile/auth/logout"
FEED = "/api/mobile/jobs"


def credentials(
    user: dict[str, Any], device: str = "phone-1", password: str = TEST_PASSWORD
) -> dict[str, Any]:
    return {
        "email": user["email"],
        "password": password,
        "device": {"id": device, "name": "Galaxy A54", "platform": "android"},
    }


async def sign_in(
    client: httpx.AsyncClient, user: dict[str, Any], device: str = "phone-1"
) -> dict[str, Any]:
    response = await client.post(LOGIN, json=credentials(user, device))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}


async def test_login_returns_tokens_user_and_session_cookies(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(LOGIN, json=credentials(world.staff_a))
    assert response.status_code == 200
    body = response.json()
    parse_answer(LoginResponse, body)
    assert body["user"] == {
        "id": world.staff_a["id"],
        "name": "สมชาย ใจดี",
        "role": "staff",
        "teamId": world.south_team,
        "locale": "th",
    }
    assert body["expiresIn"] == 900
    assert body["accessToken"] and body["refreshToken"]
    cookies = response.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("tinedy_access="))
    assert "HttpOnly" in access and "SameSite=Strict" in access
    assert "Secure" not in access, "plain http: a Secure cookie would never come back"
    assert response.headers["cache-control"] == "no-store"
    feed = await client.get(FEED, headers=auth(body))
    assert feed.status_code == 200


async def test_email_is_matched_case_insensitively(client: httpx.AsyncClient, world: World) -> None:
    body = credentials(world.staff_b) | {"email": world.staff_b["email"].upper()}
    assert (await client.post(LOGIN, json=body)).status_code == 200


@pytest.mark.parametrize("wrong", ["password", "email"])
async def test_wrong_credentials_are_one_401(
    client: httpx.AsyncClient, world: World, wrong: str
) -> None:
    body = credentials(world.staff_a)
    body[wrong] = "nobody@test.local" if wrong == "email" else "not the password"
    response = await client.post(LOGIN, json=body)
    assert_problem(response, 401, "invalid_credentials")


async def test_refresh_rotates_and_reuse_signs_the_device_out(
    client: httpx.AsyncClient, world: World
) -> None:
    first = await sign_in(client, world.staff_a, "phone-rotate")
    second = (await client.post(REFRESH, json={"refreshToken": first["refreshToken"]})).json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await client.get(FEED, headers=auth(second))).status_code == 200

    replay = await client.post(REFRESH, json={"refreshToken": first["refreshToken"]})
    assert_problem(replay, 401, "refresh_token_reused")

    # The whole family is dead: the newest refresh token and every access token of the device.
    newest = await client.post(REFRESH, json={"refreshToken": second["refreshToken"]})
    assert_problem(newest, 401, "session_revoked")
    feed = await client.get(FEED, headers=auth(second))
    assert_problem(feed, 401, "session_revoked")


async def test_reuse_on_one_device_leaves_other_devices_signed_in(
    client: httpx.AsyncClient, world: World
) -> None:
    phone = await sign_in(client, world.staff_b, "phone")
    tablet = await sign_in(client, world.staff_b, "tablet")
    await client.post(REFRESH, json={"refreshToken": phone["refreshToken"]})
    await client.post(REFRESH, json={"refreshToken": phone["refreshToken"]})
    assert (await client.get(FEED, headers=auth(phone))).status_code == 401
    assert (await client.get(FEED, headers=auth(tablet))).status_code == 200


async def test_logout_revokes_access_and_refresh(client: httpx.AsyncClient, world: World) -> None:
    session = await sign_in(client, world.staff_a, "phone-logout")
    response = await client.post(LOGOUT, headers=auth(session))
    assert response.status_code == 204
    # The browser wipes what the app kept and the session's cookies, not the device cookie
    # that keeps its owner's sign-in budget apart from an attacker's (docs/auth.md).
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    deleted = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert deleted == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert (await client.get(FEED, headers=auth(session))).status_code == 401
    again = await client.post(LOGOUT, headers=auth(session))
    assert_problem(again, 401, "session_revoked")  # a revoked phone wipes everything
    assert again.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    refresh = await client.post(REFRESH, json={"refreshToken": session["refreshToken"]})
    assert refresh.status_code == 401


async def test_signing_in_again_on_a_device_ends_its_older_session(
    client: httpx.AsyncClient, world: World
) -> None:
    old = await sign_in(client, world.staff_c, "shared-phone")
    await sign_in(client, world.staff_c, "shared-phone")
    assert (await client.get(FEED, headers=auth(old))).status_code == 401


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "unauthorized"),
        ("Basic dXNlcjpwYXNz", "unauthorized"),
        ("Bearer not-a-jwt", "invalid_token"),
    ],
)
async def test_missing_or_malformed_credentials_are_401(
    client: httpx.AsyncClient, header: str | None, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get(FEED, headers=headers)
    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forged_and_expired_tokens_are_refused(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    principal = Principal(world.staff_a["id"], "dev", Role.STAFF, world.south, world.south_team)
    valid = ctx.signer.issue_access(principal)
    head, payload, signature = valid.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    expired = ctx.signer.issue_access(principal, issued_at=int(time.time()) - 3600)
    for token in (forged, expired):
        response = await client.get(FEED, headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "invalid_token")


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, world: World
) -> None:
    session = await sign_in(client, world.staff_a, "phone-confuse")
    response = await client.get(
        FEED, headers={"Authorization": f"Bearer {session['refreshToken']}"}
    )
    assert response.status_code == 401
    swapped = await client.post(REFRESH, json={"refreshToken": session["accessToken"]})
    assert swapped.status_code == 401


async def test_cookie_session_reads_and_unsafe_requests_need_same_origin(
    client: httpx.AsyncClient, world: World
) -> None:
    session = await sign_in(client, world.staff_b, "browser")
    jar = {"Cookie": f"tinedy_access={session['accessToken']}"}
    assert (await client.get(FEED, headers=jar)).status_code == 200

    cross = await client.post(LOGOUT, headers=jar | {"Origin": "https://evil.example"})
    assert_problem(cross, 403, "csrf_check_failed")
    bare = await client.post(LOGOUT, headers=jar)
    assert bare.status_code == 403
    assert (await client.get(FEED, headers=jar)).status_code == 200

    same = await client.post(LOGOUT, headers=jar | {"Origin": "http://testserver"})
    assert same.status_code == 204
    assert (await client.get(FEED, headers=jar)).status_code == 401


async def test_refresh_from_the_cookie(client: httpx.AsyncClient, world: World) -> None:
    session = await sign_in(client, world.staff_c, "browser-refresh")
    cookie = {"Cookie": f"tinedy_refresh={session['refreshToken']}"}
    refused = await client.post(REFRESH, headers=cookie | {"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    response = await client.post(REFRESH, headers=cookie | {"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200
    assert response.json()["refreshToken"] != session["refreshToken"]


async def test_a_browser_session_works_from_its_cookie_jar(
    client: httpx.AsyncClient, world: World
) -> None:
    """No header is written by hand: the client keeps and sends what the server set."""
    await sign_in(client, world.staff_a, "jar")
    assert (await client.get(FEED)).status_code == 200
    same_site = {"Sec-Fetch-Site": "same-origin"}
    assert (await client.post(REFRESH, headers=same_site)).status_code == 200
    assert (await client.get(FEED)).status_code == 200
    assert (await client.post(LOGOUT, headers=same_site)).status_code == 204
    client.cookies.clear()
    assert (await client.get(FEED)).status_code == 401


async def test_logout_with_the_refresh_token_when_access_has_expired(
    client: httpx.AsyncClient, world: World
) -> None:
    session = await sign_in(client, world.staff_c, "expired-phone")
    client.cookies.clear()
    response = await client.post(LOGOUT, json={"refreshToken": session["refreshToken"]})
    assert response.status_code == 204
    refresh = await client.post(REFRESH, json={"refreshToken": session["refreshToken"]})
    assert refresh.status_code == 401
    assert (await client.get(FEED, headers=auth(session))).status_code == 401


async def test_a_login_without_device_details_gets_a_session_of_its_own(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"email": world.staff_b["email"], "password": TEST_PASSWORD}
    first = (await client.post(LOGIN, json=body)).json()
    second = (await client.post(LOGIN, json=body)).json()
    client.cookies.clear()
    for session in (first, second):
        assert (await client.get(FEED, headers=auth(session))).status_code == 200


async def demo_account() -> dict[str, Any]:
    """An account as the demo seeds them: at demo.local, with the demo's public password."""
    email = f"staff-{uuid.uuid4().hex[:8]}@demo.local"
    user = {
        "id": str(uuid.uuid4()),
        "email": email,
        "name": "Demo",
        "role": "staff",
        "password_hash": hash_password(DEMO_PASSWORD),
    }
    await people_queries.insert_users([user])
    return user


async def test_the_demo_password_is_refused_outside_demo_mode(client: httpx.AsyncClient) -> None:
    """DEMO is off: a demo-seeded account's public password is a wrong password."""
    account = await demo_account()
    response = await client.post(LOGIN, json=credentials(account, password=DEMO_PASSWORD))
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize("settings_overrides", [{"demo": True}])
async def test_in_demo_mode_the_demo_accounts_sign_in(client: httpx.AsyncClient) -> None:
    account = await demo_account()
    response = await client.post(LOGIN, json=credentials(account, password=DEMO_PASSWORD))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("settings_overrides", [{"max_devices_per_user": 2}])
async def test_one_device_too_many_signs_out_the_least_recently_seen(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Two devices at most: signing in on a third signs out the one least recently seen
    (here the first-signed-in phone refreshed since, so the tablet goes), its push
    subscription with it."""
    person = await add_staff(world)
    phone = await sign_in(client, person, "phone")
    tablet = await sign_in(client, person, "tablet")
    tablet_device = ctx.signer.read_access(tablet["accessToken"]).device_id
    await PushSubscription.insert(
        PushSubscription(
            id=str(uuid.uuid4()),
            user_id=person["id"],
            device_id=tablet_device,
            endpoint=f"https://push.example/{uuid.uuid4().hex}",
            p256dh="x",
            auth="y",
        )
    )
    phone = (await client.post(REFRESH, json={"refreshToken": phone["refreshToken"]})).json()
    laptop = await sign_in(client, person, "laptop")
    client.cookies.clear()

    gone = await client.post(REFRESH, json={"refreshToken": tablet["refreshToken"]})
    assert_problem(gone, 401, "session_revoked")
    assert (await client.get(FEED, headers=auth(tablet))).status_code == 401
    for kept in (phone, laptop):
        assert (await client.get(FEED, headers=auth(kept))).status_code == 200
    assert not await PushSubscription.exists().where(PushSubscription.device_id == tablet_device)
    revoked = await Device.select(Device.revoked_reason).where(Device.id == tablet_device).first()
    assert revoked == {"revoked_reason": "device_limit"}
