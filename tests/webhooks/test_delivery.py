"""Webhook deliveries to a receiver on loopback that verifies each Standard Webhooks
signature: the same events as the pull feed, retried after a 500 and after a timeout, never
following a redirect, one job's events in order, replayed on request, signed with both
secrets after a rotation, and an endpoint that keeps failing disabled, then enabled again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.engine import write_transaction
from server.webhooks import queries as webhook_queries
from server.webhooks.schemas import DeliveryList
from server.webhooks.worker import WebhookDispatcher, WebhookSender
from tests.answers import parse_answer
from tests.integration.conftest import KeyMaker
from tests.phones import Dispatcher
from tests.servers import wait_for
from tests.webhooks.conftest import PUBLIC_ORIGIN
from tests.webhooks.field_work import add_ready_photo, finish_job, head
from tests.webhooks.receiver import Received, Receiver, Reply
from tests.world import World, add_jobs, add_staff

WEBHOOKS = "/api/integration/v1/webhooks"
EVENTS = "/api/integration/v1/events"
JOB_TYPES = ["job.status_changed", "job.completed", "checkin.recorded", "photo.ready"]
pytestmark = pytest.mark.usefixtures("no_webhook_left")


class Crm:
    """The CRM's side: its key, and the webhook it made."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.id = ""
        self.secret = ""

    async def subscribe(self, url: str, events: list[str]) -> None:
        made = await self.client.post(
            WEBHOOKS, json={"url": url, "events": events}, headers=self.headers
        )
        assert made.status_code == 201, made.text
        self.id, self.secret = made.json()["id"], made.json()["secret"]

    async def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        answer = await self.client.get(
            f"{WEBHOOKS}/{self.id}/deliveries", params=params, headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        deliveries: list[dict[str, Any]] = parse_answer(DeliveryList, answer.json()).model_dump(
            mode="json", by_alias=True
        )["deliveries"]
        return deliveries

    async def webhook(self) -> dict[str, Any]:
        answer = await self.client.get(f"{WEBHOOKS}/{self.id}", headers=self.headers)
        webhook: dict[str, Any] = answer.json()["webhook"]
        return webhook

    async def events_after(self, after: int) -> list[dict[str, Any]]:
        answer = await self.client.get(EVENTS, params={"after": after}, headers=self.headers)
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


@pytest.fixture
async def crm(client: httpx.AsyncClient, crm_key: KeyMaker) -> Crm:
    return Crm(client, await crm_key("webhooks:manage", "events:read"))


async def received(receiver: Receiver, count: int, status: int = 200) -> list[Received]:
    """Once ``count`` requests have been answered ``status``: those, in arrival order."""

    def answered() -> list[Received]:
        return [r for r in receiver.received if r.status == status]

    async def enough() -> bool:
        return len(answered()) >= count

    await wait_for(enough, f"{count} deliveries answered {status}")
    return answered()


async def a_job(world: World) -> tuple[dict[str, Any], str]:
    staff = await add_staff(world)
    return staff, (await add_jobs(staff, 1))[0]["id"]


@pytest.mark.usefixtures("sender")
async def test_deliveries_are_signed_and_are_the_feeds_events(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), JOB_TYPES)
    staff, job_id = await a_job(world)
    start = await head()
    await add_ready_photo(job_id, staff["id"])
    await finish_job(client, ctx, staff, job_id)

    deliveries = await received(receiver, 5)
    feed = {event["id"]: event for event in await crm.events_after(start)}
    assert [d.event_id for d in deliveries] == list(feed)
    for delivery in deliveries:
        assert delivery.verify(crm.secret) == delivery.event  # standardwebhooks says so
        assert delivery.headers["content-type"] == "application/json"
        event = feed[delivery.event_id]
        assert delivery.event == {
            "type": event["type"],
            "timestamp": event["occurredAt"],
            "data": event["data"],
        }
    completed = next(d.event for d in deliveries if d.event["type"] == "job.completed")
    assert completed["data"]["job"]["photos"][0]["url"].startswith(f"{PUBLIC_ORIGIN}/media/")
    log = await crm.deliveries()
    assert {(d["state"], d["attempts"], d["lastStatus"]) for d in log} == {("delivered", 1, 200)}


@pytest.mark.parametrize("first", [Reply(500), Reply(200, delay=3.0)], ids=["500", "timeout"])
@pytest.mark.usefixtures("sender")
async def test_a_failed_try_is_tried_again(
    client: httpx.AsyncClient,
    ctx: AppContext,
    world: World,
    receiver: Receiver,
    crm: Crm,
    first: Reply,
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    _, job_id = await a_job(world)
    receiver.script(first)
    other = await add_staff(world)
    assert (await Dispatcher(client, ctx, world.dispatcher).assign(job_id, other["id"])).is_success

    delivered = await received(receiver, 1)
    assert [r.event_id for r in receiver.received] == [delivered[0].event_id] * 2
    assert delivered[0].signed_by(crm.secret)

    async def logged() -> bool:
        return bool((await crm.deliveries())[0]["state"] == "delivered")

    await wait_for(logged, "the delivery log to say delivered")
    (entry,) = await crm.deliveries()
    assert (entry["attempts"], entry["lastStatus"], entry["lastError"]) == (2, 200, "")


@pytest.mark.usefixtures("sender")
async def test_a_redirect_is_not_followed(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    _, job_id = await a_job(world)
    receiver.script(*[302] * 3)
    other = await add_staff(world)
    await Dispatcher(client, ctx, world.dispatcher).assign(job_id, other["id"])

    async def tried() -> bool:
        log = await crm.deliveries()
        return bool(log) and log[0]["lastStatus"] == 302

    await wait_for(tried, "a try answered with a redirect")
    (entry,) = await crm.deliveries()
    assert entry["state"] == "queued" and "not followed" in entry["lastError"]
    await received(receiver, 1)  # then it goes through
    assert receiver.of_path("/redirected") == []


@pytest.mark.usefixtures("sender")
async def test_one_jobs_events_arrive_in_order(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    """The first event fails twice; the job's later events wait for it."""
    await crm.subscribe(receiver.url(), JOB_TYPES)
    staff, job_id = await a_job(world)
    receiver.script(500, 500)
    await finish_job(client, ctx, staff, job_id)

    delivered = await received(receiver, 4)
    ids = [int(r.event_id) for r in delivered]
    assert ids == sorted(ids)
    assert [r.status for r in receiver.received[:3]] == [500, 500, 200]
    assert {r.event_id for r in receiver.received[:3]} == {str(ids[0])}
    assert [r.event["type"] for r in delivered] == [
        "job.status_changed",
        "checkin.recorded",
        "job.completed",
        "checkin.recorded",
    ]


@pytest.mark.usefixtures("sender")
async def test_a_delivery_is_replayed_on_request(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    _, job_id = await a_job(world)
    other = await add_staff(world)
    await Dispatcher(client, ctx, world.dispatcher).assign(job_id, other["id"])
    (first,) = await received(receiver, 1)

    async def settled() -> bool:  # the sender records the answer after the receiver gave it
        return len(await crm.deliveries(state="delivered")) == 1

    await wait_for(settled, "the delivery recorded as delivered")
    (entry,) = await crm.deliveries(state="delivered")
    replay = await client.post(
        f"{WEBHOOKS}/{crm.id}/deliveries/{entry['id']}/replay", headers=crm.headers
    )
    assert replay.status_code == 202, replay.text
    again = (await received(receiver, 2))[1]
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body and again.signed_by(crm.secret)
    unknown = await client.post(
        f"{WEBHOOKS}/{crm.id}/deliveries/{crm.id}/replay", headers=crm.headers
    )
    assert unknown.status_code == 404


@pytest.mark.usefixtures("sender")
async def test_after_a_rotation_both_secrets_sign(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    old = crm.secret
    rotated = await client.post(f"{WEBHOOKS}/{crm.id}/rotate-secret", headers=crm.headers)
    new = rotated.json()["secret"]
    _, job_id = await a_job(world)
    other = await add_staff(world)
    await Dispatcher(client, ctx, world.dispatcher).assign(job_id, other["id"])

    (delivery,) = await received(receiver, 1)
    assert delivery.signed_by(new) and delivery.signed_by(old)
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2


@pytest.fixture
async def impatient_sender(ctx: AppContext) -> AsyncIterator[None]:
    """A sender that disables an endpoint after a second of failures."""
    settings = ctx.settings.model_copy(update={"webhook_disable_after_hours": 1 / 3600})
    dispatcher = WebhookDispatcher(WebhookSender(settings), settings)
    dispatcher.start()
    yield
    await dispatcher.stop()


@pytest.mark.usefixtures("impatient_sender")
async def test_an_endpoint_that_keeps_failing_is_disabled_until_enabled(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    _, job_id = await a_job(world)
    receiver.script(*[503] * 1000)
    other = await add_staff(world)
    await Dispatcher(client, ctx, world.dispatcher).assign(job_id, other["id"])

    async def disabled() -> bool:
        return not (await crm.webhook())["enabled"]

    await wait_for(disabled, "the failing endpoint to be disabled")
    webhook = await crm.webhook()
    assert webhook["failingSince"] and webhook["disabledAt"]
    (entry,) = await crm.deliveries()
    assert entry["state"] == "queued" and entry["lastStatus"] == 503
    ready = (await client.get("/readyz")).json()
    assert ready["checks"]["webhooks"] == "degraded: 1 webhook endpoint disabled"
    metrics = (await client.get("/metrics")).text
    assert "tinedy_webhook_endpoints_disabled 1.0" in metrics
    assert 'tinedy_webhook_deliveries{state="retrying"}' in metrics

    tries = len(receiver.received)
    receiver.replies.clear()
    enabled = await client.patch(
        f"{WEBHOOKS}/{crm.id}", json={"enabled": True}, headers=crm.headers
    )
    assert enabled.json()["webhook"]["enabled"] is True
    (delivered,) = await received(receiver, 1)
    assert delivered.signed_by(crm.secret) and len(receiver.received) == tries + 1
    assert (await client.get("/readyz")).json()["checks"]["webhooks"] == "ok"


async def test_at_sending_inward_addresses_are_refused_again(ctx: AppContext) -> None:
    """A url that passed when made but now points inward (its name re-pointed) is a failed
    try: no connection is made."""
    sender = WebhookSender(ctx.settings)
    try:
        named = await sender.send("https://localhost:9/hooks", {}, b"{}")
        literal = await sender.send("https://127.0.0.1:9/hooks", {}, b"{}")
    finally:
        await sender.close()
    assert named.status is None and "private or reserved" in named.detail
    assert literal.status is None and "url refused" in literal.detail


@pytest.mark.usefixtures("sender")
async def test_settled_deliveries_leave_the_log_with_the_change_logs_history(
    client: httpx.AsyncClient, ctx: AppContext, world: World, receiver: Receiver, crm: Crm
) -> None:
    await crm.subscribe(receiver.url(), ["job.assigned"])
    _, job_id = await a_job(world)
    await Dispatcher(client, ctx, world.dispatcher).assign(job_id, (await add_staff(world))["id"])
    await received(receiver, 1)
    await wait_for(lambda: _settled(crm), "the delivery log to say delivered")
    async with write_transaction():
        await webhook_queries.forget_settled_deliveries(datetime.now(UTC) + timedelta(days=1))
    assert await crm.deliveries() == []


async def _settled(crm: Crm) -> bool:
    return [d["state"] for d in await crm.deliveries()] == ["delivered"]
