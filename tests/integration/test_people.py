"""The office CRM's people by its own ids: whole-record upserts that write only what differs,
If-Match, references that must exist, read-back, scopes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from server.changes import queries as change_queries
from server.context import AppContext
from server.integration.schemas import BranchAnswer, CustomerAnswer, StaffAnswer, TeamAnswer
from tests.answers import parse_answer
from tests.integration.conftest import KeyMaker
from tests.problems import assert_problem
from tests.world import World, bearer

API = "/api/integration/v1"


def ext(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def put(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await client.put(f"{API}/{path}", json=body, headers=headers)


async def placed(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    """A new branch and a team of it; their external ids."""
    branch, team = ext("br"), ext("tm")
    assert (await put(client, f"branches/{branch}", {"name": "สาขาบางนา"}, headers)).is_success
    body = {"name": "ทีม A", "branchExternalId": branch}
    assert (await put(client, f"teams/{team}", body, headers)).is_success
    return branch, team


def staff_body(branch: str, team: str | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "email": f"Person-{uuid.uuid4().hex[:8]}@Example.COM",
        "name": "สมหญิง ขยัน",
        "phone": "0811111111",
        "locale": "th",
        "role": "staff",
        "branchExternalId": branch,
        "teamExternalId": team,
        "active": True,
        **changes,
    }


@pytest.mark.parametrize("kind", ["branches", "teams", "staff", "customers"])
async def test_the_same_body_twice_writes_nothing(
    client: httpx.AsyncClient, crm_key: KeyMaker, kind: str
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    body, answer, name = {
        "branches": ({"name": "สาขาสีลม"}, BranchAnswer, "branch"),
        "teams": ({"name": "ทีม B", "branchExternalId": branch}, TeamAnswer, "team"),
        "staff": (staff_body(branch, team), StaffAnswer, "staff"),
        "customers": (
            {
                "name": "คุณสมศรี มีสุข",
                "address": "99/1 ถนนสุขุมวิท กรุงเทพฯ",
                "location": {"lat": 13.7083, "lng": 100.5838},
                "branchExternalId": branch,
                "accessNotes": "กดกริ่งสองครั้ง",
            },
            CustomerAnswer,
            "customer",
        ),
    }[kind]
    external_id = ext(kind)
    created = await put(client, f"{kind}/{external_id}", body, headers)
    assert created.status_code == 201, created.text
    record = parse_answer(answer, created.json()).model_dump(by_alias=True, mode="json")[name]
    assert record["externalId"] == external_id and record["version"] == 1
    assert created.headers["etag"] == '"1"'
    newest = await change_queries.newest_change_id()

    again = await put(client, f"{kind}/{external_id}", body, headers)
    assert again.status_code == 200
    assert again.json()[name] == record
    assert await change_queries.newest_change_id() == newest

    read = await client.get(f"{API}/{kind}/{external_id}", headers=headers)
    assert read.status_code == 200 and read.json()[name] == record
    assert read.headers["etag"] == '"1"'


async def test_a_change_is_one_version_up_and_if_match_guards_it(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    path = f"branches/{ext('br')}"
    created = (await put(client, path, {"name": "เก่า"}, headers)).json()["branch"]
    updated = await put(client, path, {"name": "ใหม่"}, headers | {"If-Match": '"1"'})
    assert updated.status_code == 200
    assert updated.json()["branch"] == created | {"name": "ใหม่", "version": 2}
    assert updated.headers["etag"] == '"2"'
    stale = await put(client, path, {"name": "อีกชื่อ"}, headers | {"If-Match": '"1"'})
    assert_problem(stale, 412, "version_mismatch")
    missing = await put(client, f"branches/{ext('br')}", {"name": "x"}, headers | {"If-Match": "1"})
    assert_problem(missing, 412, "version_mismatch")
    assert (await client.get(f"{API}/{path}", headers=headers)).json()["branch"]["name"] == "ใหม่"


async def test_unknown_references_are_422_naming_the_field(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, _ = await placed(client, headers)
    _, other_team = await placed(client, headers)
    cases = [
        ("teams", {"name": "T", "branchExternalId": "br-nowhere"}, "branchExternalId"),
        ("staff", staff_body("br-nowhere"), "branchExternalId"),
        ("staff", staff_body(branch, "tm-nowhere"), "teamExternalId"),
        ("staff", staff_body(branch, other_team), "teamExternalId"),
        ("customers", {"name": "C", "address": "A", "branchExternalId": "x"}, "branchExternalId"),
    ]
    for kind, body, field in cases:
        response = await put(client, f"{kind}/{ext(kind)}", body, headers)
        problem = assert_problem(response, 422, "validation_failed")
        assert [error["field"] for error in problem["errors"]] == [field], (kind, body)


async def test_staff_emails_are_lower_case_and_one_per_person(
    client: httpx.AsyncClient, crm_key: KeyMaker, world: World
) -> None:
    headers = await crm_key("people:write")
    branch, team = await placed(client, headers)
    body = staff_body(branch, team)
    created = (await put(client, f"staff/{ext('st')}", body, headers)).json()["staff"]
    assert created["email"] == body["email"].lower()
    assert created["hasPassword"] is False and created["active"] is True
    for taken in (body["email"].upper(), world.staff_a["email"]):
        clash = await put(client, f"staff/{ext('st')}", staff_body(branch, email=taken), headers)
        problem = assert_problem(clash, 422, "validation_failed")
        assert problem["errors"][0]["field"] == "email"


async def test_an_admin_needs_no_branch_and_others_do(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    admin = staff_body("unused", role="admin") | {"branchExternalId": None}
    assert (await put(client, f"staff/{ext('ad')}", admin, headers)).status_code == 201
    nobody = staff_body("unused") | {"branchExternalId": None}
    assert_problem(
        await put(client, f"staff/{ext('st')}", nobody, headers), 422, "validation_failed"
    )


async def test_reading_an_unknown_record_is_404(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    for kind in ("branches", "teams", "staff", "customers"):
        response = await client.get(f"{API}/{kind}/unknown-{uuid.uuid4().hex}", headers=headers)
        assert_problem(response, 404, "record_not_found")


async def test_scopes_and_who_may_call(
    client: httpx.AsyncClient, crm_key: KeyMaker, ctx: AppContext, world: World
) -> None:
    path = f"branches/{ext('br')}"
    jobs_only = await crm_key("jobs:write")
    assert_problem(await put(client, path, {"name": "x"}, jobs_only), 403, "missing_scope")
    assert_problem(await client.get(f"{API}/{path}", headers=jobs_only), 403, "missing_scope")
    person = bearer(ctx.signer, world.admin)
    assert_problem(await put(client, path, {"name": "x"}, person), 401, "invalid_api_key")
    people = await crm_key("people:write")
    assert_problem(await client.get("/api/mobile/jobs", headers=people), 401, "invalid_token")


async def test_a_customer_s_location_and_notes_are_stored(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("people:write")
    branch, _ = await placed(client, headers)
    path = f"customers/{ext('cu')}"
    body = {"name": "Khun Lek", "address": "1 Rama IV", "branchExternalId": branch}
    created = (await put(client, path, body, headers)).json()["customer"]
    assert created["location"] is None and created["accessNotes"] == "" and created["phone"] == ""
    moved = body | {"location": {"lat": 13.72, "lng": 100.52}, "lineId": "@lek"}
    updated = (await put(client, path, moved, headers)).json()["customer"]
    assert updated["location"] == {"lat": 13.72, "lng": 100.52}
    assert updated["lineId"] == "@lek" and updated["version"] == 2


PASSWORD = "รหัสผ่าน-ใหม่-2026"


async def invite(client: httpx.AsyncClient, external_id: str, headers: dict[str, str]) -> str:
    """The token of a new invite link for the person."""
    response = await client.post(f"{API}/staff/{external_id}/invite", headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["inviteUrl"].split("#token=", 1)[1])


async def crm_person(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    branch: str,
    team: str | None,
    **changes: Any,
) -> dict[str, Any]:
    """A person the CRM made and invited, who set :data:`PASSWORD`: their staff record and
    the body that made it (``body``)."""
    external_id = ext("st")
    body = staff_body(branch, team, **changes)
    record = (await put(client, f"staff/{external_id}", body, headers)).json()["staff"]
    token = await invite(client, external_id, headers)
    done = await client.post(
        "/api/mobile/auth/set-password", json={"token": token, "password": PASSWORD}
    )
    assert done.status_code == 204, done.text
    return dict(record) | {"body": body}


async def sign_in(client: httpx.AsyncClient, person: dict[str, Any], device: str) -> dict[str, Any]:
    """A new session of ``person`` on ``device``: the login answer."""
    body = {"email": person["email"], "password": PASSWORD, "device": {"id": device}}
    response = await client.post("/api/mobile/auth/login", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}
