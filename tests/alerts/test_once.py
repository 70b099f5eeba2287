"""An alert is raised once however many planners decide it: planners racing in one process,
scans racing on one clock, and two real server processes on one database, each with its own
planner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from server.alerts.service import plan_alerts, raise_late_starts
from server.changes.queries import newest_change_id
from server.context import AppContext
from tests.alerts.conftest import ALERTS, Branch, plan, raised_rows
from tests.phones import new_id, rfc3339
from tests.servers import running_instances, sign_in, wait_for
from tests.world import add_jobs


async def blind_check_in(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> None:
    """A check-in without a place: each one calls for an alert."""
    body = {"mutationId": new_id(), "type": "in", "timestamp": rfc3339()}
    answer = await client.post(f"/api/mobile/jobs/{job_id}/checkin", json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text


async def test_racing_planners_raise_each_alert_once(ctx: AppContext, branch: Branch) -> None:
    jobs = [job["id"] for job in await add_jobs(branch.staff, 20)]
    before = await newest_change_id()
    ttl = ctx.settings.push_ttl_seconds

    async def planner() -> None:
        while await plan_alerts(ttl) not in (None, 0):
            pass

    async def writes() -> None:
        for job_id in jobs:
            await blind_check_in(branch.phone.client, branch.phone.headers, job_id)
            await asyncio.sleep(0)

    await asyncio.gather(writes(), *(planner() for _ in range(4)))
    await plan(ctx)  # what the race left

    alerts = await branch.alerts()
    assert sorted(alert["jobId"] for alert in alerts) == sorted(jobs)
    ours = {alert["id"] for alert in alerts}
    logged = [r for r in await raised_rows(before) if r["payload"]["alert"]["id"] in ours]
    assert len(logged) == len(jobs), "each raised alert announced once"


async def test_racing_scans_raise_each_late_start_once(ctx: AppContext, branch: Branch) -> None:
    start = datetime(2030, 7, 1, 1, 0, tzinfo=UTC)
    await add_jobs(branch.staff, 5, start=start, step=timedelta(minutes=1))
    at = start + timedelta(minutes=30)
    late = timedelta(minutes=ctx.settings.late_start_minutes)
    raised = await asyncio.gather(
        *(raise_late_starts(at, late, ctx.settings.push_ttl_seconds) for _ in range(4))
    )
    assert sum(raised) == 5
    assert len(await branch.alerts()) == 5


async def test_two_server_processes_raise_each_alert_once(
    database_url: str, tmp_path: Path, branch: Branch
) -> None:
    now = datetime.now(UTC)
    [blind] = await add_jobs(branch.staff, 1, start=now + timedelta(hours=2))
    [late] = await add_jobs(branch.staff, 1, start=now - timedelta(minutes=30))
    before = await newest_change_id()
    async with running_instances(
        database_url, tmp_path, ALERT_POLL_SECONDS="0.2", ALERT_PLANNING="true"
    ) as (a, b):
        staff = await sign_in(a, branch.staff)
        office = await sign_in(b, branch.dispatcher.user, "board")
        await blind_check_in(b, staff, blind["id"])

        async def both_raised() -> bool:
            answer = await a.get(ALERTS, headers=office)
            return {alert["kind"] for alert in answer.json()["alerts"]} == {
                "offsite_checkin",
                "late_start",
            }

        await wait_for(both_raised, "both instances' planners to raise the alerts")
        await asyncio.sleep(1)  # five more polls each: time for a second alert to show

        for client in (a, b):
            alerts = (await client.get(ALERTS, headers=office)).json()["alerts"]
            assert sorted((alert["kind"], alert["jobId"]) for alert in alerts) == sorted(
                [("offsite_checkin", blind["id"]), ("late_start", late["id"])]
            )
    ours = {alert["id"] for alert in alerts}
    logged = [r for r in await raised_rows(before) if r["payload"]["alert"]["id"] in ours]
    assert len(logged) == 2
