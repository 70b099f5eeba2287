"""Object-level authorisation (OWASP API1) on every route with an object id in its path.

The routes come from the router, not from a list kept by hand: a new route with an id in its
path fails ``test_every_route_with_an_id_is_in_a_table`` until it is added to one of the tables
below, with the requests that prove who may reach its object.

Someone else's object is answered exactly like an object that does not exist: ``404`` with
the same problem body, so an id cannot be used to learn that something exists (the contract
says so for jobs; the product does it for every object). ``403 role_forbidden`` is kept for
what a role may never do, whatever the object (staff on dispatch routes): it says nothing
about any object. Signed URLs (photo uploads and media) are their own permission: an edited
or foreign one is ``403 invalid_signature``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sanic import Sanic

from server.alerts import queries as alert_queries
from server.alerts.service import plan_alerts
from server.changes.queries import newest_change_id
from server.context import AppContext
from server.db.engine import write_transaction
from server.db.tables import Device, Job, Photo, PushSubscription
from server.photos.links import PhotoLinks, UploadGrant
from server.push import queries as notification_queries
from server.push.service import fan_out
from tests.photos.camera import plain_image
from tests.problems import assert_problem
from tests.push.test_subscriptions import browser_subscription
from tests.security.routes import key, routes
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, add_user, bearer

JOB = "/api/mobile/jobs/<job_id:str>"
DISPATCH_JOB = "/api/dispatch/jobs/<job_id:str>"


@dataclass
class Scene:
    """A staff member who owns things, a colleague of the same team and branch, and a
    dispatcher of the other branch; the world's dispatcher is the owner's branch's."""

    client: httpx.AsyncClient
    ctx: AppContext
    world: World
    owner: dict[str, Any]
    colleague: dict[str, Any]
    north_dispatcher: dict[str, Any]
    job: dict[str, Any] = field(default_factory=dict)

    def headers(self, user: dict[str, Any]) -> dict[str, str]:
        return bearer(self.ctx.signer, user)

    async def as_admin(self, url: str) -> Any:
        answer = await self.client.get(url, headers=self.headers(self.world.admin))
        assert answer.status_code == 200, answer.text
        return answer.json()


@dataclass
class Probe:
    """One request on the owner's object (``url``) and on an object that does not exist
    (``unknown_url``), and what the object looks like (to an admin) to see a change."""

    method: str
    url: str
    unknown_url: str
    state: Callable[[], Awaitable[Any]]
    send: Callable[[], dict[str, Any]] = dict  # each request's body (keys must be fresh)

    async def by(
        self, scene: Scene, user: dict[str, Any] | None, url: str | None = None
    ) -> httpx.Response:
        headers = scene.headers(user) if user else {}
        return await scene.client.request(
            self.method, url or self.url, headers=headers, **self.send()
        )


def unknown(url: str, real_id: str) -> str:
    return url.replace(real_id, str(uuid.uuid4()))


async def job_state(scene: Scene) -> Any:
    """The job as the office sees it, its check-ins and its photo rows."""
    job_id = scene.job["id"]
    detail = await scene.as_admin(f"/api/mobile/jobs/{job_id}")
    check_ins = await scene.as_admin(f"/api/dispatch/jobs/{job_id}/checkins")
    photos = await Photo.count().where(Photo.job == job_id)
    return detail, check_ins, photos


def on_job(
    method: str, suffix: str = "", send: Callable[[], dict[str, Any]] = dict
) -> Callable[[Scene], Awaitable[Probe]]:
    async def make(scene: Scene) -> Probe:
        url = f"/api/mobile/jobs/{scene.job['id']}{suffix}"
        return Probe(method, url, unknown(url, scene.job["id"]), lambda: job_state(scene), send)

    return make


def on_dispatch_job(
    method: str, suffix: str = "", body: Callable[[Scene], Any] | None = None
) -> Callable[[Scene], Awaitable[Probe]]:
    async def make(scene: Scene) -> Probe:
        url = f"/api/dispatch/jobs/{scene.job['id']}{suffix}"
        send = {"json": body(scene)} if body else {}
        return Probe(
            method, url, unknown(url, scene.job["id"]), lambda: job_state(scene), lambda: send
        )

    return make


def check_in() -> dict[str, Any]:
    """A check-in under a fresh key (a key once refused is kept, as the contract says)."""
    return {
        "json": {
            "type": "in",
            "location": {"lat": 13.7083, "lng": 100.5838},
            "accuracy": 8.0,
            "timestamp": "2026-11-24T09:05:00+07:00",
            "mutationId": str(uuid.uuid4()),
        }
    }


def problem() -> dict[str, Any]:
    return {"json": {"reason": "customer_absent", "mutationId": str(uuid.uuid4())}}


async def completed_job(scene: Scene) -> Probe:
    """The owner's job, completed (by mistake): the office may reopen it."""
    await Job.update({Job.status: "completed"}).where(Job.id == scene.job["id"])
    return await on_dispatch_job("POST", "/reopen", lambda _: {"reason": "ticked by mistake"})(
        scene
    )


async def branch_alert(scene: Scene) -> Probe:
    """An alert of the owner's branch: the owner reported a problem, the planner raised it."""
    async with write_transaction():  # the planner reads from now on
        await alert_queries.ensure_plan_cursor(0)
        await alert_queries.move_plan_cursor(await newest_change_id())
    reported = await scene.client.post(
        f"/api/mobile/jobs/{scene.job['id']}/issues",
        headers=scene.headers(scene.owner),
        **problem(),
    )
    assert reported.status_code == 201, reported.text
    while await plan_alerts(push_ttl=60) != 0:
        pass
    alerts = (await scene.as_admin("/api/dispatch/alerts?state=all"))["alerts"]
    [alert] = [alert for alert in alerts if alert["jobId"] == scene.job["id"]]
    url = f"/api/dispatch/alerts/{alert['id']}/ack"

    async def state() -> Any:
        return await scene.as_admin("/api/dispatch/alerts?state=all")

    return Probe("POST", url, unknown(url, alert["id"]), state)


async def owners_subscription(scene: Scene) -> Probe:
    created = await scene.client.post(
        "/api/mobile/push/subscriptions",
        json=browser_subscription(),
        headers=scene.headers(scene.owner),
    )
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    url = f"/api/mobile/push/subscriptions/{subscription_id}"

    async def state() -> Any:
        return await PushSubscription.count().where(PushSubscription.id == subscription_id)

    return Probe("DELETE", url, unknown(url, subscription_id), state)


async def owners_notification(scene: Scene) -> tuple[str, str]:
    """A message from the branch's dispatcher to the owner, fanned out to the owner's
    subscription as the push sender does (nothing is sent: no push service is asked)."""
    await scene.client.post(
        "/api/mobile/push/subscriptions",
        json=browser_subscription(),
        headers=scene.headers(scene.owner),
    )
    sent = await scene.client.post(
        "/api/mobile/notifications/send",
        json={"userIds": [scene.owner["id"]], "title": "ประชุมทีม 16:00"},
        headers=scene.headers(scene.world.dispatcher),
    )
    assert sent.status_code == 202, sent.text
    now = datetime.now(UTC)
    async with write_transaction():
        await fan_out(await notification_queries.claim_due_notifications(now, 100), now)
    notification_id = sent.json()["notificationId"]
    detail = await scene.as_admin(f"/api/mobile/notifications/{notification_id}")
    [delivery] = detail["deliveries"]
    return notification_id, delivery["id"]


def notification_probe(method: str, suffix: str = "") -> Callable[[Scene], Awaitable[Probe]]:
    async def make(scene: Scene) -> Probe:
        notification_id, delivery_id = await owners_notification(scene)
        url = f"/api/mobile/notifications/{notification_id}{suffix}"
        send = {"json": {"event": "displayed", "deliveryId": delivery_id}} if suffix else {}

        async def state() -> Any:
            return await scene.as_admin(f"/api/mobile/notifications/{notification_id}")

        return Probe(method, url, unknown(url, notification_id), state, lambda: send)

    return make


async def owners_device(scene: Scene) -> Probe:
    signed_in = await scene.client.post(
        "/api/mobile/auth/login",
        json={"email": scene.owner["email"], "password": TEST_PASSWORD, "device": {"id": "p1"}},
    )
    assert signed_in.status_code == 200, signed_in.text
    device_id = scene.ctx.signer.read_access(signed_in.json()["accessToken"]).device_id
    url = f"/api/dispatch/devices/{device_id}"

    async def state() -> Any:
        return await Device.select(Device.revoked_at).where(Device.id == device_id)

    return Probe("DELETE", url, unknown(url, device_id), state)


@dataclass(frozen=True)
class Case:
    make: Callable[[Scene], Awaitable[Probe]]
    ok: int
    missing: str  # the problem code for another's object, the same as for no object
    writes: bool  # the owner's request changes the object's state


PHOTO = plain_image("JPEG")
UPLOAD_URL = {"kind": "before", "contentType": "image/jpeg"}

# Objects of one staff member: their jobs, their push subscriptions, their notifications.
STAFF_OBJECTS: dict[tuple[str, str], Case] = {
    ("GET", JOB): Case(on_job("GET"), 200, "job_not_found", writes=False),
    ("POST", JOB + "/checkin"): Case(
        on_job("POST", "/checkin", check_in), 201, "job_not_found", writes=True
    ),
    ("POST", JOB + "/issues"): Case(on_job("POST", "/issues", problem), 201, "job_not_found", True),
    ("POST", JOB + "/photos"): Case(
        on_job("POST", "/photos", lambda: {"files": {"file": ("a.jpg", PHOTO, "image/jpeg")}}),
        202,
        "job_not_found",
        writes=True,
    ),
    ("POST", JOB + "/photos/upload-url"): Case(
        on_job("POST", "/photos/upload-url", lambda: {"json": UPLOAD_URL}),
        201,
        "job_not_found",
        writes=True,
    ),
    ("DELETE", "/api/mobile/push/subscriptions/<subscription_id:str>"): Case(
        owners_subscription, 204, "subscription_not_found", writes=True
    ),
    ("GET", "/api/mobile/notifications/<notification_id:str>"): Case(
        notification_probe("GET"), 200, "notification_not_found", writes=False
    ),
    ("POST", "/api/mobile/notifications/<notification_id:str>/receipts"): Case(
        notification_probe("POST", "/receipts"), 200, "notification_not_found", writes=True
    ),
}

# Objects of a branch, reached through dispatch routes: its jobs and its staff's phones.
BRANCH_OBJECTS: dict[tuple[str, str], Case] = {
    ("POST", DISPATCH_JOB + "/assign"): Case(
        on_dispatch_job("POST", "/assign", lambda s: {"assigneeId": s.colleague["id"]}),
        200,
        "job_not_found",
        writes=True,
    ),
    ("PATCH", DISPATCH_JOB): Case(
        on_dispatch_job("PATCH", body=lambda _: {"priority": "urgent"}),
        200,
        "job_not_found",
        writes=True,
    ),
    ("POST", DISPATCH_JOB + "/reopen"): Case(completed_job, 200, "job_not_found", writes=True),
    ("POST", "/api/dispatch/alerts/<alert_id:str>/ack"): Case(
        branch_alert, 200, "alert_not_found", writes=True
    ),
    ("GET", DISPATCH_JOB + "/checkins"): Case(
        on_dispatch_job("GET", "/checkins"), 200, "job_not_found", writes=False
    ),
    ("DELETE", "/api/dispatch/devices/<device_id:str>"): Case(
        owners_device, 204, "device_not_found", writes=True
    ),
}

# The id is a signed capability; ``test_signed_urls_cannot_be_edited_to_reach_another_object``.
SIGNED_URLS = {
    ("PUT", "/api/mobile/photos/uploads/<token:str>"),
    ("POST", "/api/mobile/photos/uploads/<token:str>/complete"),
    ("GET", "/media/<key:path>"),
}

# Not anyone's object: the app shell's hashed assets, the same for everyone.
PUBLIC_FILES = {("GET", "/static/<name:path>")}
# The office CRM's records and webhooks: the company's, reached by any key with the route's
# scope (tests/security/test_function_authorisation.py), by no person.
CRM_RECORDS = {
    ("GET", "/api/integration/v1/branches/<external_id:str>"),
    ("PUT", "/api/integration/v1/branches/<external_id:str>"),
    ("GET", "/api/integration/v1/teams/<external_id:str>"),
    ("PUT", "/api/integration/v1/teams/<external_id:str>"),
    ("GET", "/api/integration/v1/staff/<external_id:str>"),
    ("PUT", "/api/integration/v1/staff/<external_id:str>"),
    ("POST", "/api/integration/v1/staff/<external_id:str>/invite"),
    ("POST", "/api/integration/v1/staff/<external_id:str>/password-reset"),
    ("GET", "/api/integration/v1/customers/<external_id:str>"),
    ("PUT", "/api/integration/v1/customers/<external_id:str>"),
    ("GET", "/api/integration/v1/jobs/<external_id:str>"),
    ("PUT", "/api/integration/v1/jobs/<external_id:str>"),
    ("GET", "/api/integration/v1/webhooks/<webhook_id:str>"),
    ("PATCH", "/api/integration/v1/webhooks/<webhook_id:str>"),
    ("DELETE", "/api/integration/v1/webhooks/<webhook_id:str>"),
    ("POST", "/api/integration/v1/webhooks/<webhook_id:str>/rotate-secret"),
    ("GET", "/api/integration/v1/webhooks/<webhook_id:str>/deliveries"),
    ("POST", "/api/integration/v1/webhooks/<webhook_id:str>/deliveries/<delivery_id:str>/replay"),
}

# A person's data under the PDPA: any person's, for admins only (no branch narrows an admin);
# test_function_authorisation.py proves every other role gets 403, tests/privacy the rest.
ADMIN_ONLY = {
    ("GET", "/api/admin/people/<person_id:str>/export"),
    ("POST", "/api/admin/people/<person_id:str>/erase"),
}


@pytest.fixture
async def scene(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Scene:
    owner = await add_staff(world)
    made = Scene(
        client,
        ctx,
        world,
        owner=owner,
        colleague=await add_staff(world),
        north_dispatcher=await add_user("dispatcher", world.north, None),
    )
    made.job = (await add_jobs(owner, 1))[0]
    return made


async def test_every_route_with_an_id_is_in_a_table(app: Sanic[Any, Any]) -> None:
    with_ids = {key(route) for route in routes(app) if route.has_id}
    tables = [
        set(STAFF_OBJECTS),
        set(BRANCH_OBJECTS),
        SIGNED_URLS,
        PUBLIC_FILES,
        CRM_RECORDS,
        ADMIN_ONLY,
    ]
    covered = set().union(*tables)
    assert sum(len(t) for t in tables) == len(covered), "a route is in two tables"
    assert with_ids - covered == set(), "routes with an id and no authorisation test"
    assert covered - with_ids == set(), "tables name routes the app no longer has"


@pytest.mark.parametrize("route", sorted(STAFF_OBJECTS), ids=" ".join)
async def test_another_persons_object_is_the_same_404_as_none(
    scene: Scene, route: tuple[str, str]
) -> None:
    case = STAFF_OBJECTS[route]
    probe = await case.make(scene)
    before = await probe.state()

    for outsider in (scene.colleague, scene.north_dispatcher):
        refused = assert_problem(await probe.by(scene, outsider), 404, case.missing)
        absent = assert_problem(
            await probe.by(scene, outsider, probe.unknown_url), 404, case.missing
        )
        assert refused == absent, "the answer must not tell that the object exists"
    assert await probe.state() == before, "a refused request changed nothing"

    owned = await probe.by(scene, scene.owner)
    assert owned.status_code == case.ok, owned.text
    assert (await probe.state() != before) is case.writes


@pytest.mark.parametrize("route", sorted(BRANCH_OBJECTS), ids=" ".join)
async def test_another_branchs_object_is_the_same_404_as_none_and_staff_get_403(
    scene: Scene, route: tuple[str, str]
) -> None:
    case = BRANCH_OBJECTS[route]
    probe = await case.make(scene)
    before = await probe.state()

    north = scene.north_dispatcher
    refused = assert_problem(await probe.by(scene, north), 404, case.missing)
    absent = assert_problem(await probe.by(scene, north, probe.unknown_url), 404, case.missing)
    assert refused == absent, "the answer must not tell that the object exists"
    for staff in (scene.owner, scene.colleague):
        assert_problem(await probe.by(scene, staff), 403, "role_forbidden")
    assert await probe.state() == before, "a refused request changed nothing"

    branch = await probe.by(scene, scene.world.dispatcher)
    assert branch.status_code == case.ok, branch.text
    assert (await probe.state() != before) is case.writes


async def test_signed_urls_cannot_be_edited_to_reach_another_object(
    scene: Scene, ctx: AppContext
) -> None:
    """An upload URL names its photo, job and person under the server's signature; a media
    URL its object and expiry. Edited, or signed by another key, they are refused."""
    owner = scene.headers(scene.owner)
    grant = await scene.client.post(
        f"/api/mobile/jobs/{scene.job['id']}/photos/upload-url",
        json={"kind": "before", "contentType": "image/jpeg"},
        headers=owner,
    )
    assert grant.status_code == 201, grant.text
    photo_id = grant.json()["photoId"]
    theirs = (await add_jobs(scene.colleague, 1))[0]
    forged = PhotoLinks("not the server's key", 3600).upload_url(
        UploadGrant(
            photo_id, theirs["id"], scene.colleague["id"], "staff", None, "image/jpeg", 10**6, 2**40
        )
    )
    jpeg = {"Content-Type": "image/jpeg"}
    assert_problem(
        await scene.client.put(forged, content=PHOTO, headers=jpeg), 403, "invalid_signature"
    )
    uploaded = await scene.client.put(grant.json()["uploadUrl"], content=PHOTO, headers=jpeg)
    assert uploaded.status_code == 202, uploaded.text

    [stored] = await Photo.select(Photo.original_key).where(Photo.id == photo_id)
    media = ctx.photo_links.media_url(stored["original_key"], datetime.now(UTC).timestamp())
    assert (await scene.client.get(media)).status_code == 200
    path, query = media.split("?")
    for edited in (
        f"/media/{uuid.uuid4().hex}.jpg?{query}",  # another object under this signature
        f"/media/..%2F..%2Fsecret_key?{query}",
        f"{path}?{query.replace('sig=', 'sig=0')}",
        PhotoLinks("not the server's key", 3600).media_url(stored["original_key"], 0),
    ):
        assert_problem(await scene.client.get(edited), 403, "invalid_signature")


async def test_static_files_are_only_the_builds_assets(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """``/static/`` serves the build's own files by name: no path reaches anything else."""
    name = next(iter(ctx.shell.files))
    assert (await client.get(f"/static/{name}")).status_code == 200
    for path in ("..%2F..%2Fpyproject.toml", "../../server/config.py", "%2Fetc%2Fpasswd"):
        answer = await client.get(f"/static/{path}")
        assert answer.status_code == 404, path


async def test_a_customer_of_another_branch_cannot_be_named_in_a_new_job(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Ids in bodies follow the rule of ids in paths; this one is tested here, the others
    where they are used (SECURITY.md lists them)."""
    north_job = world.jobs[world.staff_c["id"]][0]
    admin = bearer(ctx.signer, world.admin)
    customer = (await client.get(f"/api/mobile/jobs/{north_job}", headers=admin)).json()
    customer_id = customer["job"]["customerId"]
    before = await Job.count().where(Job.customer == customer_id)
    answer = await client.post(
        "/api/dispatch/jobs",
        json={
            "customerId": customer_id,
            "serviceType": "Deep clean",
            "scheduledDate": "2026-12-01T09:00:00+07:00",
        },
        headers=bearer(ctx.signer, world.dispatcher),
    )
    problem = assert_problem(answer, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["customerId"]
    assert await Job.count().where(Job.customer == customer_id) == before
