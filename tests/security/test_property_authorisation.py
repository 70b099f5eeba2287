"""Object property level authorisation (OWASP API3): what a caller may set, and what an
answer may show.

Every request body that is kept refuses fields it does not know, so no one can set a
column by naming it (mass assignment); staff reach only what their steps allow through sync;
no answer carries a password hash, an email address or a secret; and where a photo or a
check-in was taken is for the office only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, get_args

import httpx
import orjson
from pydantic import BaseModel
from sanic import Sanic

from server.auth.schemas import LoginRequest, RefreshRequest
from server.context import AppContext
from server.sync.mutations import BatchCheckIn, BatchPhoto, PendingUpdate
from tests.phones import Phone
from tests.photos.camera import camera_photo
from tests.problems import assert_problem
from tests.security.routes import routes
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, bearer

# Bodies that are read, never kept: an unknown field in them changes nothing.
READ_ONLY_BODIES: set[type[BaseModel]] = {LoginRequest, RefreshRequest}
# A sync batch's entries are validated one by one (``server/sync/mutations.py``).
SYNC_ENTRIES: set[type[BaseModel]] = {PendingUpdate, BatchCheckIn, BatchPhoto}
DISPATCHER_FIELDS = {
    "priority": "urgent",
    "assigneeId": None,  # filled with a colleague's id
    "scheduledDate": "2026-12-01T09:00:00+07:00",
    "durationMinutes": 15,
    "branchId": None,  # filled with the other branch
    "version": 99,
    "customerName": "someone else",
}


def models_within(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model its fields hold, however nested."""
    seen: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> Iterator[type[BaseModel]]:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation not in seen:
            seen.add(annotation)
            yield annotation
            for field in annotation.model_fields.values():
                yield from walk(field.annotation)
        for argument in get_args(annotation):
            yield from walk(argument)

    yield from walk(model)


async def test_every_kept_request_body_refuses_unknown_fields(app: Sanic[Any, Any]) -> None:
    bodies: set[type[BaseModel]] = {
        r.operation.body for r in routes(app) if r.operation and r.operation.body
    }
    kept = (bodies - READ_ONLY_BODIES) | SYNC_ENTRIES
    lenient = {
        model.__name__
        for body in kept
        for model in models_within(body)
        if model.model_config.get("extra") != "forbid"
    }
    assert lenient == set()
    assert len(kept) > 10


async def test_staff_cannot_set_what_dispatchers_decide_through_sync(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    phone = Phone(client, ctx, await add_staff(world))
    job = (await add_jobs(phone.user, 1))[0]
    office = bearer(ctx.signer, world.admin)
    before = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=office)).json()
    fields = DISPATCHER_FIELDS | {"assigneeId": world.staff_b["id"], "branchId": world.north}
    tries = [phone.update(job["id"], 1, notes="x") | {name: v} for name, v in fields.items()]
    cancel = phone.update(job["id"], 1, status="cancelled")

    answer = await phone.sync(*tries, cancel)

    codes = {failed["mutationId"]: failed["code"] for failed in answer["failed"]}
    assert [codes[t["mutationId"]] for t in tries] == ["invalid_mutation"] * len(fields)
    assert codes[cancel["mutationId"]] == "invalid_transition"
    assert answer["synced"] == []
    after = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=office)).json()
    assert after == before


async def test_no_one_sets_what_the_server_decides(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """A check-in cannot say it was on site; a dispatcher cannot move a job to another
    branch, complete it, or create one in a branch by naming it."""
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    check_in = {
        "type": "in",
        "location": {"lat": 14.5, "lng": 101.0},
        "accuracy": 5.0,
        "timestamp": "2026-11-24T09:05:00+07:00",
    }
    for claim in ({"withinGeofence": True}, {"distanceMeters": 0}, {"userId": world.staff_b["id"]}):
        answer = await client.post(
            f"/api/mobile/jobs/{job['id']}/checkin",
            json=check_in | claim,
            headers=bearer(ctx.signer, staff),
        )
        assert_problem(answer, 422, "validation_failed")

    office = bearer(ctx.signer, world.dispatcher)
    before = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=office)).json()
    for edit in ({"branchId": world.north}, {"status": "completed"}, {"assigneeId": staff["id"]}):
        answer = await client.patch(f"/api/dispatch/jobs/{job['id']}", json=edit, headers=office)
        assert_problem(answer, 422, "validation_failed")
    after = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=office)).json()
    assert after == before
    create = {
        "customerId": after["job"]["customerId"],
        "serviceType": "Deep clean",
        "scheduledDate": "2026-12-01T09:00:00+07:00",
    }
    for claim in ({"branchId": world.north}, {"status": "completed"}, {"id": job["id"]}):
        answer = await client.post("/api/dispatch/jobs", json=create | claim, headers=office)
        assert_problem(answer, 422, "validation_failed")


def keys_and_texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield str(name)
            yield from keys_and_texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_and_texts(inner)
    elif isinstance(value, str):
        yield value


async def test_no_answer_carries_a_password_hash_an_email_or_a_secret(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Everything each role can read about people, jobs and devices, after a real sign-in."""
    emails = {user["email"] for user in (world.staff_a, world.dispatcher, world.admin)}
    texts: list[str] = []
    for user in (world.staff_a, world.dispatcher, world.admin):
        login = await client.post(
            "/api/mobile/auth/login",
            json={"email": user["email"], "password": TEST_PASSWORD, "device": {"id": "p"}},
        )
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        claims = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert set(claims) == {"sub", "dev", "role", "br", "tm", "iat", "exp"}
        headers = {"Authorization": f"Bearer {token}"}
        job = world.jobs[world.staff_a["id"]][0]
        texts.extend(keys_and_texts(login.json()))
        for path in (
            "/api/mobile/jobs?limit=200",
            f"/api/mobile/jobs/{job}",
            "/api/mobile/sync/changes?since=0&limit=500",
            "/api/mobile/sync/receipts",
            "/api/mobile/push/preferences",
            "/api/dispatch/devices",
            f"/api/dispatch/jobs/{job}/checkins",
        ):
            answer = await client.get(path, headers=headers)
            if answer.status_code == 200:
                texts.extend(keys_and_texts(answer.json()))
    assert len(texts) > 1000
    words = {text.lower() for text in texts}
    assert not {w for w in words if "password" in w or "hash" in w or "secret" in w}
    assert not {w for w in words if w.startswith("$argon2") or "email" in w or w in emails}


async def test_where_a_photo_was_taken_is_for_the_office_only(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """The original keeps the camera's GPS; staff get only the stripped variants."""
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    sent = await client.post(
        f"/api/mobile/jobs/{job['id']}/photos",
        files={"file": ("IMG_1.JPG", camera_photo("JPEG"), "image/jpeg")},
        headers=bearer(ctx.signer, staff),
    )
    assert sent.status_code == 202, sent.text

    def photos(answer: httpx.Response) -> list[dict[str, Any]]:
        assert answer.status_code == 200, answer.text
        shown: list[dict[str, Any]] = answer.json()["photos"]
        assert len(shown) == 1
        return shown

    url = f"/api/mobile/jobs/{job['id']}"
    [field] = photos(await client.get(url, headers=bearer(ctx.signer, staff)))
    [office] = photos(await client.get(url, headers=bearer(ctx.signer, world.dispatcher)))
    hidden = {"evidence", "originalUrl", "uploadedBy", "error"}
    assert hidden <= set(office)
    assert hidden & set(field) == set()
