"""Planning events into deliveries: planners racing over the same log (instances, a lapsed
one) plan each event once for each webhook, and skip none."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.changes.queries import newest_change_id
from server.context import AppContext
from server.db.tables import WebhookDelivery
from server.jobs.writes import update_job
from server.webhooks.queries import plan_cursor
from server.webhooks.schemas import NewWebhook
from server.webhooks.service import create_webhook, plan_deliveries
from server.webhooks.worker import event_links
from tests.webhooks.receiver import Receiver
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.usefixtures("no_webhook_left")


async def test_racing_planners_plan_each_event_once(
    ctx: AppContext, world: World, receiver: Receiver
) -> None:
    made = await create_webhook(
        NewWebhook(url=receiver.url(), events=["job.status_changed"]), (receiver.origin,)
    )
    jobs = [job["id"] for job in await add_jobs(await add_staff(world), 30)]
    links = event_links(ctx.settings)

    async def planner() -> None:
        while await plan_deliveries(links, time.time()) not in (None, 0):
            pass

    async def writes() -> None:
        for job_id in jobs:
            await update_job(job_id, {"status": "en_route"}, "job.status_changed")
            await asyncio.sleep(0)

    await asyncio.gather(writes(), *(planner() for _ in range(4)))
    while await plan_deliveries(links, time.time()) != 0:  # what the race left
        pass

    assert await plan_cursor() == await newest_change_id()
    planned = await WebhookDelivery.select(WebhookDelivery.job_id).where(
        WebhookDelivery.endpoint_id == made["id"]
    )
    assert sorted(str(row["job_id"]) for row in planned) == sorted(jobs)
