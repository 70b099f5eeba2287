"""How the office hears of an alert: a push to the branch's dispatchers (held by quiet hours
unless urgent, through a push service on loopback), and the live ``alert`` event on a
dispatcher's stream of a real server whose own planner raised it (never on staff's, nor on
another branch's office)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.core.clock import BANGKOK
from server.db.tables import Notification
from server.push.worker import PushDispatcher, PushSender
from tests.alerts.conftest import Branch, new_branch, plan
from tests.live_clients import open_sse, pass_barrier, until
from tests.phones import new_id, rfc3339
from tests.push.push_service import PushService
from tests.servers import running_instances, sign_in, wait_for
from tests.world import add_jobs


@pytest.fixture
def settings_overrides(push_service: PushService) -> dict[str, Any]:
    return {"push_service_hosts": push_service.origin, "push_poll_seconds": 0.05}


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[None]:
    """The push sender a ``send-pushes`` process runs, here in the test's own loop."""
    dispatcher = PushDispatcher(PushSender(ctx.vapid, ctx.settings), ctx.settings)
    dispatcher.start()
    yield
    await dispatcher.stop()


async def report(branch: Branch, job_id: str, reason: str) -> None:
    answer = await branch.phone.client.post(
        f"/api/mobile/jobs/{job_id}/issues",
        json={"mutationId": new_id(), "reason": reason},
        headers=branch.phone.headers,
    )
    assert answer.status_code == 201, answer.text


async def deliveries(branch: Branch, notification_id: str) -> list[dict[str, Any]]:
    answer = await branch.dispatcher.client.get(
        f"/api/mobile/notifications/{notification_id}", headers=branch.dispatcher.headers
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


async def test_alerts_are_pushed_to_the_dispatchers_quiet_hours_hold_all_but_urgent_ones(
    ctx: AppContext, branch: Branch, push_service: PushService, sender: None
) -> None:
    client, office = branch.dispatcher.client, branch.dispatcher.headers
    subscription = push_service.new_subscription()
    answer = await client.post("/api/mobile/push/subscriptions", json=subscription, headers=office)
    assert answer.status_code == 201, answer.text
    now = datetime.now(BANGKOK)
    quiet = {
        "from": (now - timedelta(hours=1)).strftime("%H:%M"),
        "until": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    saved = await client.put(
        "/api/mobile/push/preferences", json={"quietHours": quiet}, headers=office
    )
    assert saved.status_code == 200, saved.text
    calm, unsafe = await add_jobs(branch.staff, 2)
    await report(branch, calm["id"], "customer_absent")
    await report(branch, unsafe["id"], "unsafe")
    await plan(ctx)

    pushes = {
        str(row["job_id"]): row
        for row in await Notification.select().where(Notification.branch_id == branch.id)
    }
    assert sorted(pushes) == sorted([calm["id"], unsafe["id"]])
    assert {row["kind"] for row in pushes.values()} == {"alert"}
    assert [row["urgency"] for row in (pushes[calm["id"]], pushes[unsafe["id"]])] == [
        "normal",
        "high",
    ]

    [received] = await push_service.wait_for(1)
    assert received.payload_json["kind"] == "alert"
    assert received.payload_json["jobId"] == unsafe["id"]
    assert received.payload_json["title"] == "พนักงานแจ้งปัญหา"
    assert received.urgency == "high"

    async def held() -> bool:
        found = await deliveries(branch, str(pushes[calm["id"]]["id"]))
        return bool(found) and found[0]["reason"] == "held for quiet hours"

    await wait_for(held, "the calm alert's push held for quiet hours")
    [waiting] = await deliveries(branch, str(pushes[calm["id"]]["id"]))
    assert waiting["state"] == "queued"
    assert waiting["nextAttemptAt"][11:16] == quiet["until"]


async def test_a_dispatcher_hears_the_alert_live_and_nobody_else_does(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext, branch: Branch
) -> None:
    other = await new_branch(client, ctx)
    job = (await add_jobs(branch.staff, 1))[0]
    async with running_instances(
        database_url, tmp_path, count=1, ALERT_POLL_SECONDS="0.2", ALERT_PLANNING="true"
    ) as (server,):
        staff = await sign_in(server, branch.staff)
        office = await sign_in(server, branch.dispatcher.user)
        elsewhere = await sign_in(server, other.dispatcher.user)
        streams = [await open_sse(server, headers) for headers in (office, staff, elsewhere)]
        body = {"mutationId": new_id(), "type": "in", "timestamp": rfc3339()}
        answer = await server.post(
            f"/api/mobile/jobs/{job['id']}/checkin", json=body, headers=staff
        )
        assert answer.status_code in (200, 201), answer.text

        await until(lambda: "alert" in streams[0].names(), "the alert on the office's stream", 10)
        [event] = [e for e in streams[0].events if e.name == "alert"]
        [alert] = (await server.get("/api/dispatch/alerts", headers=office)).json()["alerts"]
        assert event.data == {"alert": alert}
        assert alert["kind"] == "offsite_checkin"
        teams = [(office, branch.team), (elsewhere, other.team)]
        barrier = await pass_barrier(server, teams, streams[1:])
        assert event.id < barrier
        assert ["alert" in stream.names() for stream in streams[1:]] == [False, False]
        for stream in streams:
            await stream.stop()
