"""Every bad input gets its 4xx as RFC 9457 problem+json, never a 500 or a stack trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.context import AppContext
from tests.problems import assert_problem
from tests.world import World, bearer

LOGIN = "/api/mobile/auth/login"
FEED = "/api/mobile/jobs"
GOOD_LOGIN = {"email": "a@b.c", "password": "x", "device": {"id": "d"}}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"email": ', "application/json", 400, "malformed_json"),
        (b"\xff\xfe not utf-8", "application/json", 400, "malformed_json"),
        (b"", "application/json", 400, "malformed_json"),
        (b"email=a&password=b", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
        (
            b'{"email": 42, "password": [], "device": "x"}',
            "application/json",
            422,
            "validation_failed",
        ),
        (b'{"email": "a@b.c"}', "application/json", 422, "validation_failed"),
    ],
)
async def test_bad_login_bodies(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post(LOGIN, content=content, headers={"Content-Type": content_type})
    assert_problem(response, status, code)


async def test_validation_errors_name_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, json={"email": "not-an-email", "device": {"id": ""}})
    body = assert_problem(response, 422, "validation_failed")
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"email", "password", "device.id"}


async def test_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    huge = b'{"email": "' + b"a" * 2_000_000 + b'"}'
    response = await client.post(LOGIN, content=huge, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": "0"}, 422, "validation_failed"),
        ({"limit": "201"}, 422, "validation_failed"),
        ({"limit": "ten"}, 422, "validation_failed"),
        ({"status": "done"}, 422, "validation_failed"),
        ({"from": "yesterday"}, 422, "validation_failed"),
        ({"from": "2026-11-24T09:00:00"}, 422, "validation_failed"),
        ({"from": "20261124"}, 422, "validation_failed"),
        ({"from": "1700000000"}, 422, "validation_failed"),
        ({"from": "9999-12-31T23:59:59-23:59"}, 422, "validation_failed"),
        ({"to": "0001-01-01T00:00:00+14:00"}, 422, "validation_failed"),
        ({"cursor": "a\u0000b"}, 422, "validation_failed"),
        ({"assigneeId": "staff-7"}, 422, "validation_failed"),
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
    ],
)
async def test_bad_feed_queries(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await client.get(FEED, headers=bearer(ctx.signer, world.admin), params=params)
    assert_problem(response, status, code)


async def test_a_cursor_edited_or_reused_with_other_filters_is_refused(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.dispatcher)
    cursor = (await client.get(FEED, headers=headers, params={"limit": 2})).json()["nextCursor"]
    payload, _, signature = cursor.rpartition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert_problem(
        await client.get(FEED, headers=headers, params={"limit": 2, "cursor": tampered}),
        400,
        "invalid_cursor",
    )
    other_filters = {"limit": 2, "cursor": cursor, "status": "pending"}
    assert_problem(
        await client.get(FEED, headers=headers, params=other_filters), 400, "invalid_cursor"
    )
    assert (
        await client.get(FEED, headers=headers, params={"limit": 2, "cursor": cursor})
    ).status_code == 200


@pytest.mark.parametrize(
    "job_id", ["not-a-uuid", "00000000-0000-4000-8000-000000000000", "1' OR '1'='1"]
)
async def test_unknown_job_ids_are_404(
    client: httpx.AsyncClient, ctx: AppContext, world: World, job_id: str
) -> None:
    response = await client.get(f"{FEED}/{job_id}", headers=bearer(ctx.signer, world.admin))
    assert_problem(response, 404, "job_not_found")


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/mobile/nothing-here"), 404, "route_not_found")
    assert_problem(await client.delete(LOGIN), 405, "method_not_allowed")


async def test_problem_for_unauthenticated_feed(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(FEED), 401, "unauthorized")


@pytest.mark.parametrize("field", ["email", "password", "device.id", "device.name"])
async def test_control_characters_in_login_fields_are_422(
    client: httpx.AsyncClient, field: str
) -> None:
    body: dict[str, Any] = {
        "email": "a@b.c",
        "password": "pw",
        "device": {"id": "phone", "name": "Galaxy"},
    }
    if field.startswith("device."):
        body["device"][field.split(".")[1]] = "bad\u0000value"
    else:
        body[field] = "bad\u0000value@x.y"
    response = await client.post(LOGIN, json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": b"Bearer \xff\xfe"},
        {"Cookie": b"tinedy_access=\xff"},
        {"Authorization": "Bearer " + "a" * 5000},
        {"Authorization": "Bearer a.b.c"},
    ],
)
async def test_garbled_credentials_are_401_not_500(
    client: httpx.AsyncClient, headers: dict[str, Any]
) -> None:
    assert_problem(await client.get(FEED, headers=headers), 401, "invalid_token")


async def test_wrong_method_names_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.delete(LOGIN)
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
