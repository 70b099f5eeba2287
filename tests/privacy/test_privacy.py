"""PDPA: an admin exports everything held about one person, and erases it: no place of
theirs remains anywhere, their visits and jobs stay, they cannot sign in again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import (
    ALL_TABLES,
    Alert,
    AuditEvent,
    ChangeLog,
    CheckIn,
    Device,
    Photo,
    PrivacyAcknowledgement,
    PushSubscription,
    User,
)
from server.privacy.schemas import ErasureReport, PersonExport
from tests.answers import parse_answer
from tests.phones import Phone
from tests.problems import assert_problem
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, bearer

PEOPLE = "/api/admin/people"
LOGIN = "/api/mobile/auth/login"
PUSH_ENDPOINT = "https://fcm.googleapis.com/fcm/send/secret-path-of-this-browser"


class Cleaner:
    """A cleaner with something of every kind held about them."""

    def __init__(self, user: dict[str, Any], job: str, session: dict[str, Any]) -> None:
        self.user, self.job, self.session = user, job, session

    @property
    def id(self) -> str:
        return str(self.user["id"])


async def sign_in(
    client: httpx.AsyncClient, user: dict[str, Any], device: str = "own-phone"
) -> httpx.Response:
    body = {"email": user["email"], "password": TEST_PASSWORD, "device": {"id": device}}
    return await client.post(LOGIN, json=body)


@pytest.fixture
async def cleaner(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Cleaner:
    user = await add_staff(world)
    job = (await add_jobs(user, 1))[0]["id"]
    session = (await sign_in(client, user)).json()
    device = ctx.signer.read_access(session["accessToken"]).device_id
    phone = Phone(client, ctx, user, device_id=device)
    await phone.sync(
        check_ins=[phone.check_in(job)],
        remarks=[phone.remark(job, "dog in the garden")],
        issues=[phone.issue(job, "no_access")],
    )
    await _held_elsewhere(ctx, user["id"], device, job)
    return Cleaner(user, job, session)


async def _held_elsewhere(ctx: AppContext, user_id: str, device: str, job: str) -> None:
    """What the sync above does not make: a processed photo with a place and its original,
    a browser's push subscription, an acknowledgement, an alert about a far check-in."""
    now = datetime.now(UTC)
    key = f"originals/{uuid.uuid4().hex}"
    await ctx.photo_store.put(key, b"jpeg with gps exif", "image/jpeg")
    await Photo.insert(
        Photo(
            id=str(uuid.uuid4()),
            job=job,
            user_id=user_id,
            device_id=device,
            kind="after",
            content_type="image/jpeg",
            status="ready",
            upload_expires_at=now + timedelta(minutes=15),
            original_key=key,
            lat=13.7084,
            lng=100.5839,
            distance_meters=12.5,
            uploaded_at=now,
        )
    ).run()
    await PushSubscription.insert(
        PushSubscription(
            id=str(uuid.uuid4()),
            user_id=user_id,
            device_id=device,
            endpoint=f"{PUSH_ENDPOINT}-{uuid.uuid4().hex}",
            p256dh="BPublicKeyOfTheBrowser",
            auth="authsecret",
        )
    ).run()
    await PrivacyAcknowledgement.insert(
        PrivacyAcknowledgement(
            id=str(uuid.uuid4()), user_id=user_id, device_id=device, notice_version="1"
        )
    ).run()
    person = await User.select(User.branch).where(User.id == user_id).first().run()
    branch = person["branch"] if person else None
    await Alert.insert(
        Alert(
            id=str(uuid.uuid4()),
            kind="offsite_checkin",
            branch_id=branch,
            job_id=job,
            dedup_key=f"offsite:{uuid.uuid4()}",
            detail={"userId": user_id, "distanceMeters": 870.0, "type": "in"},
        )
    ).run()


def admin(ctx: AppContext, world: World) -> dict[str, str]:
    return bearer(ctx.signer, world.admin)


async def test_the_export_holds_every_kind_of_data(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    for _ in range(2):  # the second ends the first's session
        assert (await sign_in(client, cleaner.user, "old-phone")).status_code == 200
    response = await client.get(f"{PEOPLE}/{cleaner.id}/export", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    export = response.json()
    parse_answer(PersonExport, export)
    assert export["person"]["email"] == cleaner.user["email"]
    assert [(d["clientId"], d["revokedReason"]) for d in export["devices"]] == [
        ("own-phone", None),
        ("old-phone", "signed_in_again"),
        ("old-phone", None),
    ]
    assert export["checkIns"][0]["location"] == {"lat": 13.7083, "lng": 100.5838}
    assert export["photos"][0]["location"] == {"lat": 13.7084, "lng": 100.5839}
    assert export["pushSubscriptions"][0]["pushService"] == "fcm.googleapis.com"
    assert "secret-path" not in response.text and "authsecret" not in response.text
    assert [a["noticeVersion"] for a in export["privacyAcknowledgements"]] == ["1"]
    assert [r["text"] for r in export["remarks"]] == ["dog in the garden"]
    assert [p["reason"] for p in export["problems"]] == ["no_access"]
    assert export["mutationReceipts"]["total"] == 3
    assert export["mutationReceipts"]["byKind"]["checkin"] == {"applied": 1}
    assert [e["action"] for e in export["auditEvents"]] == ["device.revoked"]
    assert "password" not in response.text.lower().replace("haspassword", "")
    exported = await AuditEvent.select().where(
        (AuditEvent.target_id == cleaner.id) & (AuditEvent.action == "user.exported")
    )
    assert [str(e["actor_id"]) for e in exported] == [world.admin["id"]]


async def test_an_erased_person_leaves_no_place_and_cannot_sign_in(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    key = (await Photo.select(Photo.original_key).where(Photo.user_id == cleaner.id))[0]
    response = await client.post(f"{PEOPLE}/{cleaner.id}/erase", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    report = parse_answer(ErasureReport, response.json())
    assert (report.erased.check_ins, report.erased.devices, report.erased.photo_originals) == (
        1,
        1,
        1,
    )

    await assert_no_place_of(cleaner.id)
    assert await ctx.photo_store.get(key["original_key"]) is None
    assert await Device.count().where(Device.user == cleaner.id) == 0
    assert await PushSubscription.count().where(PushSubscription.user_id == cleaner.id) == 0
    visits = await CheckIn.select().where(CheckIn.user_id == cleaner.id)
    assert [(v["type"], str(v["job"])) for v in visits] == [("in", cleaner.job)]
    assert visits[0]["within_geofence"] is True

    assert_problem(await sign_in(client, cleaner.user), 401, "invalid_credentials")
    feed = await client.get(
        "/api/mobile/jobs", headers={"Authorization": f"Bearer {cleaner.session['accessToken']}"}
    )
    assert_problem(feed, 401, "session_revoked")
    person = await User.select().where(User.id == cleaner.id).first()
    assert person is not None
    assert (person["name"], person["phone"], person["password_hash"]) == ("Erased person", "", "")
    assert person["erased_at"] is not None and person["active"] is False
    assert cleaner.user["email"] != person["email"]

    detail = await client.get(
        f"/api/mobile/jobs/{cleaner.job}", headers=bearer(ctx.signer, world.dispatcher)
    )
    assert detail.status_code == 200, detail.text
    assert [r["authorName"] for r in detail.json()["remarks"]] == ["Erased person"]
    assert [p["reportedByName"] for p in detail.json()["problems"]] == ["Erased person"]
    erased = await AuditEvent.select().where(
        (AuditEvent.target_id == cleaner.id) & (AuditEvent.action == "user.erased")
    )
    assert [str(e["actor_id"]) for e in erased] == [world.admin["id"]]


async def assert_no_place_of(user_id: str) -> None:
    """No table with a place holds one of theirs; no fact or alert their distance."""
    for table in ALL_TABLES:
        names = {column._meta.name for column in table._meta.columns}
        if "lat" not in names or not names & {"user_id", "author_id"}:
            continue
        who = table.user_id if "user_id" in names else table.author_id  # type: ignore[attr-defined]
        placed = table.lat.is_not_null() | table.lng.is_not_null()  # type: ignore[attr-defined]
        if "distance_meters" in names:
            placed = placed | table.distance_meters.is_not_null()  # type: ignore[attr-defined]
        assert await table.count().where((who == user_id) & placed) == 0, table
    facts = (
        await ChangeLog.select(ChangeLog.payload)
        .where((ChangeLog.kind == "checkin.recorded") & (ChangeLog.actor_id == user_id))
        .output(load_json=True)
    )
    assert facts and all(f["payload"]["distanceMeters"] is None for f in facts)
    alerts = await Alert.select(Alert.detail).output(load_json=True)
    assert all(
        a["detail"].get("distanceMeters") is None
        for a in alerts
        if a["detail"].get("userId") == user_id
    )


async def test_the_crm_cannot_bring_an_erased_person_back(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    from server.integration.keys import create_api_key

    key = {"Authorization": f"Bearer {(await create_api_key('t', ['people:write'])).key}"}
    api = "/api/integration/v1"
    assert (await client.put(f"{api}/branches/br-pdpa", json={"name": "B"}, headers=key)).is_success
    body = {
        "email": "pdpa@example.com",
        "name": "P",
        "role": "staff",
        "branchExternalId": "br-pdpa",
    }
    made = await client.put(f"{api}/staff/st-pdpa", json=body, headers=key)
    person = made.json()["staff"]["id"]
    assert (await client.post(f"{PEOPLE}/{person}/erase", headers=admin(ctx, world))).is_success
    again = await client.put(f"{api}/staff/st-pdpa", json=body, headers=key)
    assert_problem(again, 422, "validation_failed")


async def test_only_admins_export_or_erase_and_unknown_people_are_404(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    target = world.staff_b["id"]
    for user in (world.staff_a, world.dispatcher):
        for method, path in (("GET", "export"), ("POST", "erase")):
            refused = await client.request(
                method, f"{PEOPLE}/{target}/{path}", headers=bearer(ctx.signer, user)
            )
            assert_problem(refused, 403, "role_forbidden")
    for nobody in (str(uuid.uuid4()), "not-an-id"):
        missing = await client.get(f"{PEOPLE}/{nobody}/export", headers=admin(ctx, world))
        assert_problem(missing, 404, "person_not_found")
    myself = await client.post(f"{PEOPLE}/{world.admin['id']}/erase", headers=admin(ctx, world))
    assert_problem(myself, 422, "validation_failed")
