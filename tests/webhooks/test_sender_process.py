"""The server starts its webhook sender process (WEBHOOK_SENDERS) beside its workers, and
that process delivers a dispatcher's change to the CRM's receiver, signed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from server.auth.tokens import TokenSigner
from server.integration.keys import create_api_key
from tests.phones import Dispatcher
from tests.servers import SECRET, running_instances, wait_for
from tests.webhooks.receiver import Receiver
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.usefixtures("no_webhook_left")


async def test_the_servers_sender_process_delivers(
    app: Any, database_url: str, tmp_path: Path, world: World, receiver: Receiver
) -> None:
    key = {"Authorization": f"Bearer {(await create_api_key('crm', ['all'])).key}"}
    staff, other = await add_staff(world), await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    ctx = dataclasses.replace(app.ctx.tinedy, signer=TokenSigner(SECRET, 900, 3600))
    async with running_instances(
        database_url,
        tmp_path,
        count=1,
        WEBHOOK_SENDERS="1",
        WEBHOOK_ALLOWED_ORIGINS=receiver.origin,
        WEBHOOK_POLL_SECONDS="0.1",
        PUSH_SENDERS="0",
        PHOTO_PROCESSING_WORKERS="0",
    ) as (server,):
        made = await server.post(
            "/api/integration/v1/webhooks",
            json={"url": receiver.url(), "events": ["job.assigned"]},
            headers=key,
        )
        assert made.status_code == 201, made.text
        await Dispatcher(server, ctx, world.dispatcher).assign(job["id"], other["id"])

        async def delivered() -> bool:
            return any(r.status == 200 for r in receiver.received)

        await wait_for(delivered, "the sender process to deliver", seconds=20)
    (delivery,) = receiver.received
    assert delivery.verify(made.json()["secret"])["type"] == "job.assigned"
    assert delivery.event["data"]["job"]["id"] == job["id"]
