"""PDPA: an admin exports everything held about one person, and erases it: no place of
theirs remains anywhere, their visits and jobs stay, they cannot sign in again."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from piccolo.columns import JSON, UUID, ForeignKey
from piccolo.table import Table

from server.context import AppContext
from server.db.tables import (
    ALL_TABLES,
    Alert,
    AuditEvent,
    ChangeLog,
    CheckIn,
    Device,
    DeviceSync,
    Notification,
    PasswordToken,
    Photo,
    PrivacyAcknowledgement,
    PushDelivery,
    PushPreference,
    PushSubscription,
    User,
    WebhookDelivery,
)
from server.privacy import export_queries
from server.privacy.schemas import ErasureReport, PersonExport
from tests.answers import parse_answer
from tests.phones import Dispatcher, Phone
from tests.problems import assert_problem
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, bearer

PEOPLE = "/api/admin/people"
LOGIN = "/api/mobile/auth/login"
PUSH_ENDPOINT = "https://fcm.googleapis.com/fcm/send/secret-path-of-this-browser"
PRIVACY_DOC = Path(__file__).parents[2] / "docs" / "privacy.md"
CLOCK_AHEAD = timedelta(minutes=3)


class Cleaner:
    """A cleaner with something of every kind held about them."""

    def __init__(
        self, user: dict[str, Any], jobs: list[str], session: dict[str, Any], device: str
    ) -> None:
        self.user, self.session, self.device = user, session, device
        self.job, self.former_job = jobs

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
    jobs = [job["id"] for job in await add_jobs(user, 2)]
    session = (await sign_in(client, user)).json()
    device = ctx.signer.read_access(session["accessToken"]).device_id
    phone = Phone(client, ctx, user, device_id=device, clock_offset=CLOCK_AHEAD)
    await phone.sync(
        check_ins=[phone.check_in(jobs[0])],
        remarks=[phone.remark(jobs[0], "dog in the garden")],
        issues=[phone.issue(jobs[0], "no_access")],
    )
    taken_off = await Dispatcher(client, ctx, world.dispatcher).assign(jobs[1], world.staff_a["id"])
    assert taken_off.status_code == 200, taken_off.text
    await _held_elsewhere(ctx, user["id"], device, jobs[0])
    await _pushed_to(user["id"], world.dispatcher["id"])
    return Cleaner(user, jobs, session, device)


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


async def _pushed_to(user_id: str, sender: str) -> None:
    """A dispatcher's message to them, shown and clicked on their browser; their quiet
    hours; a link to reset their password."""
    now = datetime.now(UTC)
    notification = str(uuid.uuid4())
    await Notification.insert(
        Notification(
            id=notification,
            kind="message",
            created_by=sender,
            recipients=[user_id],
            title={"th": "ข่าว", "en": "News"},
            body={"th": "พรุ่งนี้", "en": "Tomorrow"},
            status="sent",
        )
    ).run()
    subscription = await PushSubscription.select(PushSubscription.id).where(
        PushSubscription.user_id == user_id
    )
    await PushDelivery.insert(
        PushDelivery(
            id=str(uuid.uuid4()),
            notification_id=notification,
            subscription_id=subscription[0]["id"],
            user_id=user_id,
            push_service="fcm.googleapis.com",
            state="clicked",
            accepted_at=now,
            displayed_at=now,
            clicked_at=now,
        )
    ).run()
    await PushPreference.insert(
        PushPreference(user_id=user_id, quiet_from="21:00", quiet_until="07:00")
    ).run()
    await PasswordToken.insert(
        PasswordToken(
            id=str(uuid.uuid4()),
            user_id=user_id,
            purpose="reset",
            token_hash=uuid.uuid4().hex * 2,
            expires_at=now + timedelta(hours=1),
        )
    ).run()


def admin(ctx: AppContext, world: World) -> dict[str, str]:
    return bearer(ctx.signer, world.admin)


async def test_the_export_holds_every_kind_of_data(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    for _ in range(2):  # the second ends the first's session
        old = await sign_in(client, cleaner.user, "old-phone")
        assert old.status_code == 200, old.text
    lost = ctx.signer.read_access(old.json()["accessToken"]).device_id
    revoked = await client.delete(
        f"/api/dispatch/devices/{lost}", headers=bearer(ctx.signer, world.dispatcher)
    )
    assert revoked.status_code == 204, revoked.text
    response = await client.get(f"{PEOPLE}/{cleaner.id}/export", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    export = response.json()
    parse_answer(PersonExport, export)
    assert export["person"]["email"] == cleaner.user["email"]
    assert [(d["clientId"], d["revokedReason"]) for d in export["devices"]] == [
        ("own-phone", None),
        ("old-phone", "signed_in_again"),
        ("old-phone", "revoked"),
    ]
    [clock] = export["deviceClocks"]
    assert clock["deviceId"] == cleaner.device
    assert abs(clock["clockSkewSeconds"] - CLOCK_AHEAD.total_seconds()) < 30
    assert export["checkIns"][0]["location"] == {"lat": 13.7083, "lng": 100.5838}
    assert abs(export["checkIns"][0]["clockSkewSeconds"] - CLOCK_AHEAD.total_seconds()) < 30
    assert {(j["jobId"], j["role"], len(j["takenOffAt"])) for j in export["jobs"]} == {
        (cleaner.job, "lead", 0),
        (cleaner.former_job, None, 1),
    }
    assert export["photos"][0]["location"] == {"lat": 13.7084, "lng": 100.5839}
    assert [r["text"] for r in export["remarks"]] == ["dog in the garden"]
    assert [p["reason"] for p in export["problems"]] == ["no_access"]
    offsite = [a for a in export["alerts"] if a["kind"] == "offsite_checkin"]
    assert [a["detail"]["distanceMeters"] for a in offsite] == [870.0]
    assert "checkin.recorded" in {c["kind"] for c in export["changes"]}
    assert not [c for c in export["changes"] if "job" in c["payload"]]  # the customer's

    receipts = export["mutationReceipts"]
    assert (receipts["total"], receipts["byKind"]["checkin"]) == (3, {"applied": 1})
    assert sorted(r["kind"] for r in receipts["receipts"]) == ["checkin", "issue", "remark"]
    for receipt in receipts["receipts"]:
        assert receipt["mutationId"] and receipt["jobId"] == cleaner.job
        assert receipt["outcome"] == "applied" and receipt["receivedAt"] is not None
        assert "code" in receipt and "clientTime" in receipt
    [visit] = [r for r in receipts["receipts"] if r["kind"] == "checkin"]
    assert visit["clientTime"] is not None

    assert export["pushSubscriptions"][0]["pushService"] == "fcm.googleapis.com"
    [delivery] = export["pushDeliveries"]
    assert delivery["state"] == "clicked"
    assert delivery["acceptedAt"] and delivery["displayedAt"] and delivery["clickedAt"]
    assert [n["id"] for n in export["notifications"]] == [delivery["notificationId"]]
    assert export["pushPreference"]["quietFrom"] == "21:00"
    assert [link["purpose"] for link in export["passwordLinks"]] == ["reset"]
    assert [a["noticeVersion"] for a in export["privacyAcknowledgements"]] == ["1"]
    assert [(e["action"], e["actorId"]) for e in export["auditEvents"]] == [
        ("job.reassigned", world.dispatcher["id"]),  # names them as the crew before
        ("device.revoked", cleaner.id),
        ("device.revoked", world.dispatcher["id"]),  # their device, by someone else
    ]
    assert "secret-path" not in response.text and "authsecret" not in response.text
    assert cleaner.user["password_hash"] not in response.text
    assert not [key for key in keys_of(export) if "hash" in key.lower()]
    exported = await AuditEvent.select().where(
        (AuditEvent.target_id == cleaner.id) & (AuditEvent.action == "user.exported")
    )
    assert [str(e["actor_id"]) for e in exported] == [world.admin["id"]]


async def test_an_export_leaves_out_what_is_about_others(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    """The dispatcher who acknowledged an alert about the cleaner, and reassigned a job of
    theirs, gets those acts back, not the cleaner's distance or the customer's record."""
    dispatcher = world.dispatcher["id"]
    await Alert.update(
        {Alert.acknowledged_by: dispatcher, Alert.acknowledged_at: datetime.now(UTC)}
    ).where((Alert.job_id == cleaner.job) & (Alert.kind == "offsite_checkin"))
    response = await client.get(f"{PEOPLE}/{dispatcher}/export", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    export = response.json()
    assert [(a["kind"], a["detail"]) for a in export["alerts"]] == [("offsite_checkin", None)]
    [reassigned] = [c for c in export["changes"] if c["jobId"] == cleaner.former_job]
    assert reassigned["payload"]["left"] == [cleaner.id] and "job" not in reassigned["payload"]
    assert "Somsri" not in response.text


async def test_others_write_while_an_export_reads(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    cleaner: Cleaner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The export reads one snapshot and holds no write lock while it reads (SQLite has a
    single one, which phones' syncs wait for): the dispatcher revokes the cleaner's phone
    while the export is between two of its reads, and the revocation commits meanwhile; the
    document stays the moment the export began."""
    reading, revoked = asyncio.Event(), asyncio.Event()
    read_acknowledgements = export_queries.acknowledgements

    async def between_reads(user_id: str) -> list[dict[str, Any]]:
        reading.set()
        await revoked.wait()
        return await read_acknowledgements(user_id)

    monkeypatch.setattr(export_queries, "acknowledgements", between_reads)
    path, headers = f"{PEOPLE}/{cleaner.id}/export", admin(ctx, world)
    export = asyncio.create_task(client.get(path, headers=headers))
    paused = asyncio.create_task(reading.wait())
    try:
        await asyncio.wait({export, paused}, return_when=asyncio.FIRST_COMPLETED)
        assert paused.done(), "the export ended before its reads paused"
        revoke = await client.delete(
            f"/api/dispatch/devices/{cleaner.device}", headers=bearer(ctx.signer, world.dispatcher)
        )
    finally:
        revoked.set()
        response = await export
    assert revoke.status_code == 204, revoke.text
    assert response.status_code == 200, response.text
    document = response.json()
    assert [d["revokedAt"] for d in document["devices"]] == [None]
    assert "device.revoked" not in {e["action"] for e in document["auditEvents"]}


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


PERSON_WORDS = ("user", "device", "actor", "author", "assignee", "member", "recipient", "_by")


def references_a_person(table: type[Table]) -> bool:
    """The table has a column that points at a person or a device: a foreign key to one, or
    an id or JSON column named for one (``user_id``, ``device_id``, ``created_by``...)."""
    for column in table._meta.columns:
        if isinstance(column, ForeignKey):
            if column._foreign_key_meta.resolved_references in (User, Device):
                return True
        elif isinstance(column, UUID | JSON) and any(w in column._meta.name for w in PERSON_WORDS):
            return True
    return table is User


def documented_tables() -> dict[str, str]:
    """docs/privacy.md's table by table list: each table and its export cell."""
    text = PRIVACY_DOC.read_text(encoding="utf-8")
    section = text.split("### Table by table", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {table: cell.strip() for table, cell in rows}


async def test_every_table_about_a_person_is_exported_or_says_why_not(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    """A table added later with a column naming a person or a device fails here until
    docs/privacy.md gives it a section of the export (one the cleaner's export fills) or the
    reason it has none."""
    response = await client.get(f"{PEOPLE}/{cleaner.id}/export", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    export = response.json()
    documented = documented_tables()
    names = {table._meta.tablename for table in ALL_TABLES}
    assert set(documented) <= names, set(documented) - names
    for table in ALL_TABLES:
        name = table._meta.tablename
        if not references_a_person(table):
            continue
        assert name in documented, f"{name}: say in docs/privacy.md where it is exported"
        if documented[name].startswith("not exported:"):
            continue
        sections = re.findall(r"`(\w+)`", documented[name])
        assert sections, f"{name}: name its section of the export, or say why it has none"
        for section in sections:
            assert export.get(section), f"{name}: the export's {section} holds nothing"


async def test_an_erased_person_leaves_no_place_and_cannot_sign_in(
    client: httpx.AsyncClient, ctx: AppContext, world: World, cleaner: Cleaner
) -> None:
    key = (await Photo.select(Photo.original_key).where(Photo.user_id == cleaner.id))[0]
    queued = await _queued_for_the_crm(cleaner)
    response = await client.post(f"{PEOPLE}/{cleaner.id}/erase", headers=admin(ctx, world))
    assert response.status_code == 200, response.text
    person = await User.select().where(User.id == cleaner.id).first()
    assert person is not None
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
    assert await PushDelivery.count().where(PushDelivery.user_id == cleaner.id) == 0
    assert await DeviceSync.count().where(DeviceSync.user_id == cleaner.id) == 0
    assert await Notification.count().where(Notification.created_by == world.dispatcher["id"])
    visits = await CheckIn.select().where(CheckIn.user_id == cleaner.id)
    assert [(v["type"], str(v["job"])) for v in visits] == [("in", cleaner.job)]
    assert visits[0]["within_geofence"] is True

    sent = (
        await WebhookDelivery.select(WebhookDelivery.body)
        .where(WebhookDelivery.id == queued)
        .first()
        .output(load_json=True)
    )
    assert sent is not None
    body = sent["body"]
    assert body["data"]["checkIn"] == {"staffId": cleaner.id, "distanceMeters": None}
    assert body["data"]["staff"] == {
        "id": cleaner.id,
        "name": "Erased person",
        "email": person["email"],
        "phone": "",
    }
    assert body["data"]["job"] == {"id": cleaner.job, "name": "Deep clean"}

    assert_problem(await sign_in(client, cleaner.user), 401, "invalid_credentials")
    feed = await client.get(
        "/api/mobile/jobs", headers={"Authorization": f"Bearer {cleaner.session['accessToken']}"}
    )
    assert_problem(feed, 401, "session_revoked")
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


async def _queued_for_the_crm(cleaner: Cleaner) -> str:
    """An event for the CRM not sent yet: a check-in of theirs, with their staff record."""
    delivery = str(uuid.uuid4())
    body = {
        "type": "checkin.recorded",
        "data": {
            "checkIn": {"staffId": cleaner.id, "distanceMeters": 12.5},
            "staff": {
                "id": cleaner.id,
                "name": cleaner.user["name"],
                "email": cleaner.user["email"],
                "phone": "0812345678",
            },
            "job": {"id": cleaner.job, "name": "Deep clean"},
        },
    }
    await WebhookDelivery.insert(
        WebhookDelivery(
            id=delivery,
            endpoint_id=str(uuid.uuid4()),
            event_id=1,
            event_type="checkin.recorded",
            body=body,
        )
    ).run()
    return delivery


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
