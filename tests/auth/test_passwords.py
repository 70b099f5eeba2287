"""Passwords people set themselves: a one-time invite or reset link from the office CRM, a
forgotten password (which never says whether the account exists), and changing one's own."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.auth.password_links import link_base
from server.auth.passwords import PasswordPool
from server.auth.schemas import InviteLinkOut, ResetLinkOut
from server.changes import queries as change_queries
from server.db.tables import PasswordToken
from server.errors import PasswordChecksBusy
from server.integration.keys import create_api_key
from tests.answers import parse_answer
from tests.integration.test_people import (
    API,
    PASSWORD,
    auth,
    crm_person,
    ext,
    invite,
    placed,
    put,
    sign_in,
    staff_body,
)
from tests.problems import assert_problem
from tests.windows import MINUTE, clear_of_a_window_edge
from tests.world import TEST_PASSWORD, World

SET = "/api/mobile/auth/set-password"
FORGOT = "/api/mobile/auth/forgot-password"
CHANGE = "/api/mobile/auth/change-password"
LOGIN = "/api/mobile/auth/login"
FEED = "/api/mobile/jobs"


async def key(*scopes: str) -> dict[str, str]:
    made = await create_api_key("tests", list(scopes))
    return {"Authorization": f"Bearer {made.key}"}


@pytest.fixture
async def headers(app: Any) -> dict[str, str]:
    """The office CRM's key to people (the app is started: its database is bound)."""
    return await key("people:write")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    clear_of_a_window_edge(MINUTE, 15)
    return {"login_failures_per_address": "6 per minute", "proxies_count": 1}


async def new_staff(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    """A staff member the CRM made, not yet invited: external id and email."""
    branch, team = await placed(client, headers)
    external_id, body = ext("st"), staff_body(branch, team)
    assert (await put(client, f"staff/{external_id}", body, headers)).status_code == 201
    return external_id, body["email"].lower()


def login_body(email: str, password: str = PASSWORD) -> dict[str, Any]:
    return {"email": email, "password": password, "device": {"id": "phone"}}


async def test_an_invite_lets_a_new_person_set_a_password_once(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    external_id, email = await new_staff(client, headers)
    decoy = login_body(email, "decoy password for unknown accounts")
    assert_problem(await client.post(LOGIN, json=decoy), 401, "invalid_credentials")

    answer = await client.post(f"{API}/staff/{external_id}/invite", headers=headers)
    assert answer.status_code == 201
    link = parse_answer(InviteLinkOut, answer.json())
    assert link.invite_url.startswith("http://testserver/set-password#token=")
    lifetime = link.expires_at - datetime.now(UTC)
    assert timedelta(hours=71) < lifetime <= timedelta(hours=72)
    token = link.invite_url.split("#token=")[1]

    assert (await client.post(SET, json={"token": token, "password": PASSWORD})).status_code == 204
    assert (await client.post(LOGIN, json=login_body(email))).status_code == 200
    again = await client.post(SET, json={"token": token, "password": "another one 123"})
    assert_problem(again, 400, "invalid_password_link")
    read = await client.get(f"{API}/staff/{external_id}", headers=headers)
    assert read.json()["staff"]["hasPassword"] is True


async def test_a_new_link_spends_the_earlier_one_and_links_expire(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    external_id, _ = await new_staff(client, headers)
    first = await invite(client, external_id, headers)
    second = await invite(client, external_id, headers)
    spent = await client.post(SET, json={"token": first, "password": PASSWORD})
    assert_problem(spent, 400, "invalid_password_link")
    await PasswordToken.update({PasswordToken.expires_at: datetime.now(UTC)}).where(
        PasswordToken.used_at.is_null()
    )
    expired = await client.post(SET, json={"token": second, "password": PASSWORD})
    assert_problem(expired, 400, "invalid_password_link")
    unknown = await client.post(SET, json={"token": "not-a-token", "password": PASSWORD})
    assert_problem(unknown, 400, "invalid_password_link")


async def test_password_rules_name_the_field(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    external_id, _ = await new_staff(client, headers)
    token = await invite(client, external_id, headers)
    for password in ("short", "x" * 129):
        answer = await client.post(SET, json={"token": token, "password": password})
        problem = assert_problem(answer, 422, "validation_failed")
        assert [error["field"] for error in problem["errors"]] == ["password"]


async def test_only_active_known_staff_get_links(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    unknown = await client.post(f"{API}/staff/nobody-{ext('x')}/invite", headers=headers)
    assert_problem(unknown, 404, "record_not_found")
    branch, team = await placed(client, headers)
    external_id = ext("st")
    body = staff_body(branch, team, active=False)
    await put(client, f"staff/{external_id}", body, headers)
    for action in ("invite", "password-reset"):
        refused = await client.post(f"{API}/staff/{external_id}/{action}", headers=headers)
        problem = assert_problem(refused, 422, "validation_failed")
        assert problem["errors"][0]["field"] == "active"
    scoped = await key("jobs:write")
    other = await client.post(f"{API}/staff/{external_id}/invite", headers=scoped)
    assert_problem(other, 403, "missing_scope")


async def test_a_reset_link_sets_a_new_password_and_signs_out_every_device(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    phone = await sign_in(client, person, "phone")
    answer = await client.post(
        f"{API}/staff/{person['externalId']}/password-reset", headers=headers
    )
    assert answer.status_code == 201
    link = parse_answer(ResetLinkOut, answer.json())
    assert link.expires_at - datetime.now(UTC) <= timedelta(minutes=60)
    token = link.reset_url.split("#token=")[1]
    fresh = "ลืมแล้วตั้งใหม่ 42"
    assert (await client.post(SET, json={"token": token, "password": fresh})).status_code == 204
    assert_problem(await client.get(FEED, headers=auth(phone)), 401, "session_revoked")
    refresh = {"refreshToken": phone["refreshToken"]}
    assert (await client.post("/api/mobile/auth/refresh", json=refresh)).status_code == 401
    assert (await client.post(LOGIN, json=login_body(person["email"], fresh))).status_code == 200
    old = login_body(person["email"])
    assert_problem(await client.post(LOGIN, json=old), 401, "invalid_credentials")


async def test_links_point_at_the_origin_the_proxy_names_unless_one_is_configured(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    external_id, _ = await new_staff(client, headers)
    proxied = headers | {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "field.tinedy.example",
    }
    answer = await client.post(f"{API}/staff/{external_id}/invite", headers=proxied)
    assert answer.json()["inviteUrl"].startswith("https://field.tinedy.example/set-password#")
    assert link_base("https://app.tinedy.example/", "http://internal:8000") == (
        "https://app.tinedy.example"
    )


async def test_forgetting_says_nothing_and_tells_the_office_of_real_accounts(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await change_queries.newest_change_id()
    for email in ("nobody-at-all@test.local", world.staff_a["email"].upper()):
        assert (await client.post(FORGOT, json={"email": email})).status_code == 202
    rows = await change_queries.changes_after(before, 100)
    asked = [row for row in rows if row["kind"] == "staff.password_reset_requested"]
    assert [row["payload"] for row in asked] == [{"userId": world.staff_a["id"]}]
    assert "token" not in str(rows)


async def test_forgetting_and_bad_links_are_throttled_by_address(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(6):
        await client.post(SET, json={"token": "guess", "password": PASSWORD})
    throttled = await client.post(FORGOT, json={"email": "someone@test.local"})
    assert_problem(throttled, 429, "rate_limited")
    assert int(throttled.headers["retry-after"]) > 0


async def test_changing_one_s_password_keeps_this_device_and_signs_out_the_others(
    client: httpx.AsyncClient, world: World, headers: dict[str, str]
) -> None:
    branch, team = await placed(client, headers)
    person = await crm_person(client, headers, branch, team)
    phone = await sign_in(client, person, "phone")
    tablet = await sign_in(client, person, "tablet")
    wrong = {"currentPassword": TEST_PASSWORD, "newPassword": "brand new pass"}
    refused = await client.post(CHANGE, json=wrong, headers=auth(phone))
    assert_problem(refused, 401, "invalid_credentials")
    short = {"currentPassword": PASSWORD, "newPassword": "short"}
    problem = assert_problem(
        await client.post(CHANGE, json=short, headers=auth(phone)), 422, "validation_failed"
    )
    assert problem["errors"][0]["field"] == "newPassword"

    right = {"currentPassword": PASSWORD, "newPassword": "brand new pass"}
    assert (await client.post(CHANGE, json=right, headers=auth(phone))).status_code == 204
    assert (await client.get(FEED, headers=auth(phone))).status_code == 200
    assert_problem(await client.get(FEED, headers=auth(tablet)), 401, "session_revoked")
    new_login = login_body(person["email"], "brand new pass")
    assert (await client.post(LOGIN, json=new_login)).status_code == 200
    client.cookies.clear()  # the sign-ins' session cookies
    assert_problem(await client.post(CHANGE, json=right), 401, "unauthorized")


async def test_password_checks_have_their_own_bounded_pool() -> None:
    """While Argon2 keeps every thread of its pool busy, the loop's default executor (photo
    checks, local photo files) still answers at once, and a check past the queue is refused
    at once rather than queued."""
    pool = PasswordPool(threads=1, queue=1)
    release = threading.Event()
    try:
        held = [asyncio.create_task(pool.run(release.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        with pytest.raises(PasswordChecksBusy):
            await pool.run(str, "one too many")
        assert time.perf_counter() - started < 0.05
        default = asyncio.get_running_loop().run_in_executor(None, str, "photo")
        assert await asyncio.wait_for(default, 1) == "photo"
        release.set()
        assert await asyncio.gather(*held) == [True, True]
        assert await pool.run(str, "free again") == "free again"
    finally:
        release.set()
        pool.close()


@pytest.mark.parametrize(
    "settings_overrides",
    [{"password_hash_threads": 1, "password_hash_queue": 0, "proxies_count": 1}],
)
async def test_a_sign_in_flood_past_the_queue_is_503_at_once(client: httpx.AsyncClient) -> None:
    """Sign-ins from many clients at once, one check at a time: the rest are told to come
    back (503, Retry-After), not queued."""
    attempts = [
        client.post(
            LOGIN,
            json=login_body(f"nobody{n}@test.local", "a wrong password"),
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        for n in range(1, 13)
    ]
    answers = await asyncio.gather(*attempts)
    statuses = {answer.status_code for answer in answers}
    assert statuses <= {401, 503} and 503 in statuses, statuses
    busy = next(answer for answer in answers if answer.status_code == 503)
    assert_problem(busy, 503, "password_checks_busy")
    assert busy.headers["retry-after"] == "1"
