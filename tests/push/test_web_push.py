"""Web Push delivery through a push service on loopback that checks what a real one checks
(VAPID JWT, TTL, Urgency, Topic) and decrypts each payload with the subscription's private
key, as the phone would: a dispatcher's message, job pushes, what each answer of the push
service does to the delivery, receipts, preferences, and who may see what."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.context import AppContext
from server.core.access import Principal, Role
from server.core.clock import BANGKOK
from server.db.tables import (
    Notification,
    PushDelivery,
    PushPlanCursor,
    PushSubscription,
    Team,
    User,
)
from server.push import queries as push_queries
from server.push.schemas import NotificationDetail, NotificationQueued, ReceiptRecorded
from server.push.service import NewNotification, send_notification
from server.push.subscriptions import NewSubscription
from server.push.subscriptions import subscribe as subscribe_service
from server.push.vapid import VapidKeys
from server.push.worker import PushDispatcher, PushSender
from tests.answers import parse_answer
from tests.problems import assert_problem
from tests.push.push_service import Answer, PushService
from tests.servers import running_instances, wait_for
from tests.world import World, add_jobs, add_staff, add_user, bearer

SEND = "/api/mobile/notifications/send"
SUBSCRIPTIONS = "/api/mobile/push/subscriptions"
PREFERENCES = "/api/mobile/push/preferences"


@pytest.fixture
def settings_overrides(push_service: PushService) -> dict[str, Any]:
    return {
        "push_service_hosts": push_service.origin,
        "push_poll_seconds": 0.05,
        "push_retry_seconds": 0.2,
        "push_max_attempts": 3,
    }


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[None]:
    """The push sender a ``send-pushes`` process runs, here in the test's own loop."""
    dispatcher = PushDispatcher(PushSender(ctx.vapid, ctx.settings), ctx.settings)
    dispatcher.start()
    yield
    await dispatcher.stop()


@pytest.fixture
def vapid_checked(push_service: PushService, ctx: AppContext) -> PushService:
    push_service.vapid_public_key = ctx.vapid.public_key
    return push_service


async def subscribe(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    service: PushService,
    answers: list[int | Answer] | None = None,
) -> dict[str, Any]:
    """A browser subscribing: its PushSubscription posted, its id kept beside it."""
    subscription = service.new_subscription(answers or [])
    answer = await client.post(SUBSCRIPTIONS, json=subscription, headers=headers)
    assert answer.status_code == 201, answer.text
    return {**subscription, "id": answer.json()["id"]}


async def pushes_settled(*, job_id: str | None = None, notification_id: str | None = None) -> None:
    """A barrier: every job change planned into pushes, and no delivery of the job's (or the
    notification's) waiting to be sent, so what the push service has received of them is all
    it will receive."""

    async def settled() -> bool:
        cursor = await PushPlanCursor.select(PushPlanCursor.last_change_id).first()
        planned = cursor is not None and not await push_queries.job_changes_after(
            int(cursor["last_change_id"]), 1
        )
        ours = Notification.select(Notification.id).where(
            Notification.job_id == job_id if job_id else Notification.id == notification_id
        )
        waiting = await PushDelivery.exists().where(
            (PushDelivery.state == push_queries.QUEUED)
            & PushDelivery.notification_id.is_in([row["id"] for row in await ours])
        )
        return planned and not waiting

    await wait_for(settled, "every push planned and sent")


async def detail_when(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    notification_id: str,
    settled: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """The notification's detail once ``settled`` holds for it."""
    seen: dict[str, Any] = {}

    async def check() -> bool:
        answer = await client.get(f"/api/mobile/notifications/{notification_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        parse_answer(NotificationDetail, answer.json())  # as documented in OpenAPI
        seen.update(answer.json())
        return settled(seen)

    await wait_for(check, "the deliveries to settle")
    return seen


def all_in(*states: str) -> Callable[[dict[str, Any]], bool]:
    return lambda detail: (
        bool(detail["deliveries"]) and all(d["state"] in states for d in detail["deliveries"])
    )


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], **message: Any
) -> dict[str, Any]:
    answer = await client.post(SEND, json={"title": "ประชุมทีม", **message}, headers=headers)
    assert answer.status_code == 202, answer.text
    queued: dict[str, Any] = answer.json()
    parse_answer(NotificationQueued, queued)
    return queued


async def test_a_message_reaches_every_phone_encrypted_signed_and_in_its_language(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    vapid_checked: PushService,
) -> None:
    thai, english = await add_staff(world), await add_staff(world, locale="en")
    phones = [
        await subscribe(client, bearer(ctx.signer, thai), vapid_checked),
        await subscribe(client, bearer(ctx.signer, thai), vapid_checked),
        await subscribe(client, bearer(ctx.signer, english), vapid_checked),
    ]
    office = bearer(ctx.signer, world.dispatcher)
    queued = await send(
        client,
        office,
        userIds=[thai["id"], english["id"]],
        title={"th": "ประชุมทีม 16:00", "en": "Team meeting 16:00"},
        body={"th": "ที่สำนักงาน", "en": "At the office"},
        url="/#board",
        urgency="low",
        ttl=3600,
    )
    assert queued["recipients"] == 2

    received = await vapid_checked.wait_for(3)
    assert all(r.status == 201 and r.error is None for r in received), received
    by_endpoint = {r.endpoint: r for r in received}
    for phone, title in zip(phones, ["ประชุมทีม 16:00"] * 2 + ["Team meeting 16:00"], strict=True):
        push = by_endpoint[phone["endpoint"]]
        assert push.payload_json["title"] == title
        assert push.payload_json["notificationId"] == queued["notificationId"]
        assert push.payload_json["url"] == "/#board"
        assert push.urgency == "low" and push.ttl is not None and 3500 < push.ttl <= 3600
        assert push.claims is not None and push.claims["aud"] == vapid_checked.origin
        assert push.payload is not None and len(push.payload) < 3072
    detail = await detail_when(client, office, queued["notificationId"], all_in("accepted"))
    assert detail["counts"]["accepted"] == 3
    assert {d["subscriptionId"] for d in detail["deliveries"]} == {p["id"] for p in phones}


async def test_each_answer_of_the_push_service_drives_its_state(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    staff = await add_staff(world)
    headers = bearer(ctx.signer, staff)
    gone = await subscribe(client, headers, push_service, [410])
    missing = await subscribe(client, headers, push_service, [404])
    too_big = await subscribe(client, headers, push_service, [413])
    refused = await subscribe(client, headers, push_service, [400])
    throttled = await subscribe(client, headers, push_service, [Answer(429, retry_after=1)])
    flaky = await subscribe(client, headers, push_service, [500, 500])
    broken = await subscribe(client, headers, push_service, [500, 500, 500])
    redirected = await subscribe(client, headers, push_service, [307])
    office = bearer(ctx.signer, world.dispatcher)

    queued = await send(client, office, userIds=[staff["id"]], body="ทดสอบ")
    detail = await detail_when(
        client, office, queued["notificationId"], all_in("accepted", "failed")
    )
    state = {d["subscriptionId"]: d for d in detail["deliveries"]}
    assert state[gone["id"]]["state"] == "failed" and "410" in state[gone["id"]]["reason"]
    assert state[missing["id"]]["state"] == "failed" and "404" in state[missing["id"]]["reason"]
    assert "too large" in state[too_big["id"]]["reason"]
    assert "rejected" in state[refused["id"]]["reason"]
    assert state[throttled["id"]]["state"] == "accepted"
    assert state[throttled["id"]]["attempts"] == 2
    assert state[flaky["id"]]["state"] == "accepted" and state[flaky["id"]]["attempts"] == 3
    assert state[broken["id"]]["state"] == "failed"
    assert "gave up after 3 tries" in state[broken["id"]]["reason"]
    assert state[redirected["id"]]["state"] == "failed"
    assert "redirected (307): not followed" in state[redirected["id"]]["reason"]
    sent_to = [r.endpoint for r in push_service.received]
    assert sent_to.count(redirected["endpoint"]) == 1, "the redirect was not followed"
    retried = [r for r in push_service.received if r.endpoint == throttled["endpoint"]]
    waited = (retried[1].at - retried[0].at).total_seconds()
    assert waited >= 0.9, "the retry honoured Retry-After: 1"

    pruned = await PushSubscription.select(PushSubscription.id).where(
        PushSubscription.user_id == staff["id"]
    )
    assert {str(row["id"]) for row in pruned} == {
        too_big["id"],
        refused["id"],
        throttled["id"],
        flaky["id"],
        broken["id"],
        redirected["id"],
    }, "the gone subscriptions are pruned, the others kept"


async def test_a_job_assigned_to_me_rings_my_phone_once_and_urgent_work_rings_high(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    vapid_checked: PushService,
) -> None:
    staff, other = await add_staff(world), await add_staff(world)
    phone = await subscribe(client, bearer(ctx.signer, staff), vapid_checked)
    office = bearer(ctx.signer, world.dispatcher)
    [job] = await add_jobs(None, 1, status="pending", branch=world.south)

    assigned = await client.post(
        f"/api/dispatch/jobs/{job['id']}/assign", json={"assigneeId": staff["id"]}, headers=office
    )
    assert assigned.status_code == 200, assigned.text
    [push] = await vapid_checked.wait_for(1)
    assert push.endpoint == phone["endpoint"]
    assert push.payload_json["kind"] == "assigned" and push.payload_json["jobId"] == job["id"]
    assert push.payload_json["url"] == f"/#job/{job['id']}"
    assert push.payload_json["changeId"] > 0 and push.payload_json["title"] == "งานใหม่"
    assert push.topic == job["id"].replace("-", "") and push.urgency == "normal"

    urgent = await client.patch(
        f"/api/dispatch/jobs/{job['id']}", json={"priority": "urgent"}, headers=office
    )
    assert urgent.status_code == 200
    pushes = await vapid_checked.wait_for(2)
    assert pushes[1].payload_json["kind"] == "urgent" and pushes[1].urgency == "high"

    moved = await client.post(
        f"/api/dispatch/jobs/{job['id']}/assign", json={"assigneeId": other["id"]}, headers=office
    )
    assert moved.status_code == 200
    pushes = await vapid_checked.wait_for(3)
    assert pushes[2].payload_json["kind"] == "reassigned", "the phone hears the job went away"
    await pushes_settled(job_id=job["id"])
    assert len(vapid_checked.received) == 3, "once each, and nothing for the unsubscribed"
    notifications = await Notification.select(Notification.kind).where(
        Notification.job_id == job["id"]
    )
    assert sorted(n["kind"] for n in notifications) == ["assigned", "reassigned", "urgent"]


async def test_quiet_hours_hold_a_push_and_opt_outs_stop_it_but_urgent_work_rings_through(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    staff = await add_staff(world)
    headers = bearer(ctx.signer, staff)
    await subscribe(client, headers, push_service)
    now = datetime.now(BANGKOK)
    quiet = {
        "from": (now - timedelta(hours=1)).strftime("%H:%M"),
        "until": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    saved = await client.put(
        PREFERENCES, json={"quietHours": quiet, "optedOut": ["cancelled"]}, headers=headers
    )
    assert saved.status_code == 200, saved.text
    assert (await client.get(PREFERENCES, headers=headers)).json() == {
        "quietHours": quiet,
        "optedOut": ["cancelled"],
    }
    office = bearer(ctx.signer, world.dispatcher)

    held = await send(client, office, userIds=[staff["id"]], body="พรุ่งนี้")
    detail = await detail_when(client, office, held["notificationId"], all_in("queued"))
    [delivery] = detail["deliveries"]
    assert delivery["reason"] == "held for quiet hours"
    assert delivery["nextAttemptAt"][11:16] == quiet["until"]

    rings = await send(client, office, userIds=[staff["id"]], body="ด่วน", urgency="high")
    await detail_when(client, office, rings["notificationId"], all_in("accepted"))

    job, urgent_job = await add_jobs(None, 2, status="pending", branch=world.south)

    async def planned(job_id: str, count: int) -> bool:
        kinds = await Notification.select(Notification.kind).where(Notification.job_id == job_id)
        return len(kinds) >= count

    assigned = await client.post(
        f"/api/dispatch/jobs/{job['id']}/assign", json={"assigneeId": staff["id"]}, headers=office
    )
    assert assigned.status_code == 200
    await wait_for(lambda: planned(job["id"], 1), "the assignment's push to be planned")
    cancelled = await client.patch(
        f"/api/dispatch/jobs/{job['id']}", json={"status": "cancelled"}, headers=office
    )
    assert cancelled.status_code == 200
    for edit in ({"assigneeId": staff["id"]}, {"priority": "urgent"}):
        method, path = ("POST", "/assign") if "assigneeId" in edit else ("PATCH", "")
        answer = await client.request(
            method, f"/api/dispatch/jobs/{urgent_job['id']}{path}", json=edit, headers=office
        )
        assert answer.status_code == 200, answer.text
        await wait_for(lambda: planned(urgent_job["id"], 1), "the urgent job's push")
    await push_service.wait_for(2)
    kinds = await Notification.select(Notification.kind).where(Notification.job_id == job["id"])
    assert [n["kind"] for n in kinds] == ["assigned"], "cancelled was opted out of"
    assert [r.payload_json["kind"] for r in push_service.received] == ["message", "urgent"], (
        "the assignments wait for the quiet hours to end; urgent work rings through"
    )


async def test_receipts_move_a_delivery_forward_once_and_only_for_its_owner(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    staff, stranger = await add_staff(world), await add_staff(world)
    headers = bearer(ctx.signer, staff)
    await subscribe(client, headers, push_service)
    office = bearer(ctx.signer, world.dispatcher)
    queued = await send(client, office, userIds=[staff["id"]])
    [push] = await push_service.wait_for(1)
    receipts = f"/api/mobile/notifications/{queued['notificationId']}/receipts"
    delivery = {"deliveryId": push.payload_json["deliveryId"]}
    await detail_when(client, office, queued["notificationId"], all_in("accepted"))

    first = await client.post(receipts, json={"event": "displayed", **delivery}, headers=headers)
    again = await client.post(receipts, json={"event": "displayed", **delivery}, headers=headers)
    assert first.status_code == again.status_code == 200
    parse_answer(ReceiptRecorded, first.json())
    assert first.json() == again.json()
    shown = await detail_when(client, office, queued["notificationId"], all_in("displayed"))
    clicked = await client.post(receipts, json={"event": "clicked"}, headers=headers)
    assert clicked.json()["deliveries"][0]["state"] == "clicked"
    late = await client.post(receipts, json={"event": "displayed"}, headers=headers)
    assert late.json()["deliveries"][0]["state"] == "clicked", "never moves back"
    final = await detail_when(client, office, queued["notificationId"], all_in("clicked"))
    assert final["deliveries"][0]["displayedAt"] == shown["deliveries"][0]["displayedAt"]

    other = bearer(ctx.signer, stranger)
    assert_problem(
        await client.post(receipts, json={"event": "clicked"}, headers=other),
        404,
        "notification_not_found",
    )
    assert_problem(
        await client.get(f"/api/mobile/notifications/{queued['notificationId']}", headers=other),
        404,
        "notification_not_found",
    )
    mine = await client.get(
        f"/api/mobile/notifications/{queued['notificationId']}", headers=headers
    )
    assert [d["userId"] for d in mine.json()["deliveries"]] == [staff["id"]]
    north = await add_user("dispatcher", world.north, None)
    assert_problem(
        await client.get(
            f"/api/mobile/notifications/{queued['notificationId']}",
            headers=bearer(ctx.signer, north),
        ),
        404,
        "notification_not_found",
    )


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"userIds": [], "title": "x"}, "userIds"),
        ({"role": "staff", "teamId": str(uuid.uuid4()), "title": "x"}, ""),
        ({"role": "staff", "title": "x", "url": "https://evil.example/"}, "url"),
        ({"role": "staff", "title": ""}, "title"),
        ({"role": "staff", "title": "x", "ttl": -1}, "ttl"),
        ({"role": "staff", "title": "x", "urgency": "now"}, "urgency"),
        ({"teamId": str(uuid.uuid4()), "title": "x"}, "teamId"),
    ],
)
async def test_a_bad_message_is_refused_with_the_field_at_fault(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    message: dict[str, Any],
    field: str,
) -> None:
    answer = await client.post(SEND, json=message, headers=bearer(ctx.signer, world.dispatcher))
    problem = assert_problem(answer, 422, "validation_failed")
    assert field in str(problem.get("errors", problem))


async def test_only_the_office_sends_and_only_to_its_own_branch(
    client: httpx.AsyncClient, ctx: AppContext, world: World, sender: None
) -> None:
    as_staff = bearer(ctx.signer, world.staff_a)
    assert_problem(
        await client.post(SEND, json={"role": "staff", "title": "x"}, headers=as_staff),
        403,
        "role_forbidden",
    )
    office = bearer(ctx.signer, world.dispatcher)
    north = await client.post(
        SEND, json={"userIds": [world.staff_c["id"]], "title": "x"}, headers=office
    )
    assert_problem(north, 422, "validation_failed")


async def test_a_scheduled_message_waits_for_its_time(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    staff = await add_staff(world)
    await subscribe(client, bearer(ctx.signer, staff), push_service)
    office = bearer(ctx.signer, world.dispatcher)
    send_at = datetime.now(UTC) + timedelta(seconds=1.5)
    queued = await send(client, office, userIds=[staff["id"]], sendAt=send_at.isoformat())
    first = await client.get(
        f"/api/mobile/notifications/{queued['notificationId']}", headers=office
    )
    assert first.json()["notification"]["status"] == "scheduled"
    assert first.json()["deliveries"] == [] and push_service.received == []
    [push] = await push_service.wait_for(1)
    assert push.at >= send_at


async def test_a_scheduled_message_fires_once_across_a_restart_and_two_instances(
    database_url: str, world: World, tmp_path: Path, push_service: PushService
) -> None:
    """Kept while no instance runs, due by the time two instances start on the database: it
    goes out once per subscription, signed with the installation's one VAPID key."""
    vapid = ec.generate_private_key(ec.SECP256R1())
    pem = vapid.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    push_service.vapid_public_key = VapidKeys(vapid).public_key
    staff = await add_staff(world)
    phone = Principal(staff["id"], str(uuid.uuid4()), Role.STAFF, world.south, world.south_team)
    phones = [push_service.new_subscription() for _ in range(2)]
    for subscription in phones:
        await subscribe_service(
            phone, NewSubscription.model_validate(subscription), (push_service.origin,)
        )
    office = Principal(
        world.dispatcher["id"], str(uuid.uuid4()), Role.DISPATCHER, world.south, None
    )
    send_at = datetime.now(UTC) + timedelta(seconds=0.5)
    message = NewNotification.model_validate(
        {"userIds": [staff["id"]], "title": "x", "sendAt": send_at.isoformat()}
    )
    queued = await send_notification(office, message)
    await asyncio.sleep(1)

    settings = {
        "VAPID_PRIVATE_KEY": pem,
        "PUSH_SERVICE_HOSTS": push_service.origin,
        "PUSH_POLL_SECONDS": "0.05",
        "PHOTO_PROCESSING_WORKERS": "0",
    }
    async with running_instances(database_url, tmp_path, count=2, **settings):
        received = await push_service.wait_for(2)
        await pushes_settled(notification_id=queued["notificationId"])
    assert len(push_service.received) == 2, "once per subscription, by one instance"
    assert {r.endpoint for r in received} == {p["endpoint"] for p in phones}
    assert all(r.error is None and r.status == 201 for r in received)
    assert all(r.payload_json["notificationId"] == queued["notificationId"] for r in received)


async def test_a_subscription_silent_too_long_is_pruned(
    client: httpx.AsyncClient, ctx: AppContext, world: World, push_service: PushService
) -> None:
    """Some push services accept pushes for dead subscriptions: silence is the only sign."""
    staff = await add_staff(world)
    headers = bearer(ctx.signer, staff)
    silent = await subscribe(client, headers, push_service)
    alive = await subscribe(client, headers, push_service)
    idle = datetime.now(UTC) - timedelta(days=ctx.settings.push_idle_days + 1)
    await PushSubscription.update({PushSubscription.last_seen_at: idle}).where(
        PushSubscription.id == silent["id"]
    )
    await PushDispatcher(PushSender(ctx.vapid, ctx.settings), ctx.settings).work_once()
    kept = await PushSubscription.select(PushSubscription.id).where(
        PushSubscription.user_id == staff["id"]
    )
    assert [str(row["id"]) for row in kept] == [alive["id"]]


async def test_a_message_to_a_team_reaches_its_active_members_only(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    team = str(uuid.uuid4())
    await Team.insert(Team(id=team, name="ทีมพิเศษ", branch=world.south))
    members = [await add_user("staff", world.south, team) for _ in range(2)]
    gone = await add_user("staff", world.south, team)
    await User.update({User.active: False}).where(User.id == gone["id"])
    for person in [*members, gone]:
        await subscribe(client, bearer(ctx.signer, person), push_service)
    queued = await send(client, bearer(ctx.signer, world.dispatcher), teamId=team)
    assert queued["recipients"] == 2
    received = await push_service.wait_for(2)
    await pushes_settled(notification_id=queued["notificationId"])
    assert len(push_service.received) == 2 and all(r.status == 201 for r in received)


async def test_a_dispatcher_of_no_branch_reaches_no_one(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    nowhere = await add_user("dispatcher", None, None)
    answer = await client.post(
        SEND, json={"role": "staff", "title": "x"}, headers=bearer(ctx.signer, nowhere)
    )
    assert_problem(answer, 422, "validation_failed")


async def test_a_ttl_of_zero_is_sent_as_now_or_never(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    sender: None,
    push_service: PushService,
) -> None:
    staff = await add_staff(world)
    await subscribe(client, bearer(ctx.signer, staff), push_service)
    await send(client, bearer(ctx.signer, world.dispatcher), userIds=[staff["id"]], ttl=0)
    [push] = await push_service.wait_for(1)
    assert push.ttl == 0 and push.status == 201
