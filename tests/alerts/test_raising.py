"""Alerts raised from what the field really does (HTTP and sync): a problem reported, a
check-in away from the job or without a place, a completion with gaps, a change refused.
Each is raised once, logged as ``alert.raised`` for the office's live stream, and is no
event of the CRM's nor a job push."""

from __future__ import annotations

from typing import Any

import httpx

from server.alerts import queries as alert_queries
from server.alerts.schemas import AlertList
from server.changes.queries import newest_change_id
from server.context import AppContext
from server.db.engine import write_transaction
from server.integration.events import event_type
from server.push.plans import job_pushes
from tests.alerts.conftest import Branch, plan, raised_rows
from tests.answers import parse_answer
from tests.phones import new_id, rfc3339
from tests.world import add_jobs

FAR_AWAY = {"lat": 13.80, "lng": 100.5838}  # ~10 km north of every test job
ON_SITE = {"lat": 13.7083, "lng": 100.5838}


async def report(branch: Branch, job_id: str, body: dict[str, Any]) -> httpx.Response:
    return await branch.phone.client.post(
        f"/api/mobile/jobs/{job_id}/issues", json=body, headers=branch.phone.headers
    )


async def check_in(branch: Branch, job_id: str, **fields: Any) -> dict[str, Any]:
    body = {"mutationId": new_id(), "type": "in", "timestamp": rfc3339(), **fields}
    answer = await branch.phone.client.post(
        f"/api/mobile/jobs/{job_id}/checkin", json=body, headers=branch.phone.headers
    )
    assert answer.status_code in (200, 201), answer.text
    check: dict[str, Any] = answer.json()["checkIn"]
    return check


async def test_a_reported_problem_alerts_the_office_once(ctx: AppContext, branch: Branch) -> None:
    job = (await add_jobs(branch.staff, 1))[0]
    body = {"mutationId": new_id(), "reason": "no_access", "note": "gate locked"}
    for _ in range(2):  # a replay records nothing new
        answer = await report(branch, job["id"], body)
        assert answer.status_code in (200, 201), answer.text
    before = await newest_change_id()
    await plan(ctx)

    listed = await branch.alerts()
    parse_answer(AlertList, {"alerts": listed})
    [alert] = listed
    assert alert["kind"] == "issue_reported"
    assert alert["jobId"] == job["id"]
    assert not alert["urgent"]
    assert alert["acknowledgedAt"] is None
    detail = alert["detail"]
    assert {k: detail[k] for k in ("reason", "note", "reportedBy")} == {
        "reason": "no_access",
        "note": "gate locked",
        "reportedBy": branch.staff["id"],
    }
    assert detail["problemId"]
    [row] = await raised_rows(before)
    assert row["job_id"] is None
    assert str(row["branch_id"]) == branch.id
    assert row["payload"] == {"alert": alert}
    assert event_type(row) is None, "no event of the CRM's"
    assert job_pushes(row, None) == [], "no job push"


async def test_an_unsafe_place_reported_in_a_sync_batch_is_urgent(
    ctx: AppContext, branch: Branch
) -> None:
    job = (await add_jobs(branch.staff, 1, status="in_progress"))[0]
    issue = {"mutationId": new_id(), "jobId": job["id"], "reason": "unsafe", "note": "dog"}
    await branch.phone.send({**branch.phone.batch(), "issues": [issue]})
    await plan(ctx)

    [alert] = await branch.alerts()
    assert (alert["kind"], alert["urgent"], alert["detail"]["reason"]) == (
        "issue_reported",
        True,
        "unsafe",
    )


async def test_check_ins_away_from_the_job_or_without_a_place_alert_the_office(
    ctx: AppContext, branch: Branch
) -> None:
    far, blind, near = await add_jobs(branch.staff, 3)
    assert (await check_in(branch, far["id"], location=FAR_AWAY, accuracy=10.0))[
        "withinGeofence"
    ] is False
    assert (await check_in(branch, blind["id"]))["locationMissing"] is True
    assert (await check_in(branch, near["id"], location=ON_SITE, accuracy=10.0))["withinGeofence"]
    await plan(ctx)

    alerts = {alert["jobId"]: alert for alert in await branch.alerts()}
    assert sorted(alerts) == sorted([far["id"], blind["id"]])
    away = alerts[far["id"]]
    assert away["kind"] == "offsite_checkin"
    assert 9_000 < away["detail"]["distanceMeters"] < 11_000
    assert {k: away["detail"][k] for k in ("userId", "type", "locationMissing")} == {
        "userId": branch.staff["id"],
        "type": "in",
        "locationMissing": False,
    }
    assert alerts[blind["id"]]["detail"] == {
        "distanceMeters": None,
        "userId": branch.staff["id"],
        "type": "in",
        "locationMissing": True,
    }


async def complete(branch: Branch, job_id: str, ticked: int, after_photo: bool) -> None:
    """Tick ``ticked`` checklist items, maybe ask to upload an ``after`` photo, then
    complete the job in one sync."""
    detail = await branch.phone.job(job_id)
    version = detail["job"]["version"]
    if after_photo:
        answer = await branch.phone.client.post(
            f"/api/mobile/jobs/{job_id}/photos/upload-url",
            json={"kind": "after", "contentType": "image/jpeg"},
            headers=branch.phone.headers,
        )
        assert answer.status_code in (200, 201), answer.text
        version = (await branch.phone.job(job_id))["job"]["version"]
    ticks = [{"itemId": item["id"], "done": True} for item in detail["checklistItems"][:ticked]]
    body = await branch.phone.sync(
        branch.phone.update(job_id, version, checklist=ticks),
        branch.phone.update(job_id, version, status="completed"),
    )
    assert not body["failed"] and not body["conflicts"], body
    assert (await branch.phone.job(job_id))["job"]["status"] == "completed"


async def test_a_completion_with_unticked_items_or_no_after_photo_alerts_the_office(
    ctx: AppContext, branch: Branch
) -> None:
    gaps, no_photo, done = await add_jobs(branch.staff, 3, status="in_progress")
    await complete(branch, gaps["id"], ticked=2, after_photo=True)
    await complete(branch, no_photo["id"], ticked=4, after_photo=False)
    await complete(branch, done["id"], ticked=4, after_photo=True)
    await plan(ctx)

    alerts = {alert["jobId"]: alert for alert in await branch.alerts()}
    assert sorted(alerts) == sorted([gaps["id"], no_photo["id"]])
    assert {a["kind"] for a in alerts.values()} == {"incomplete_completion"}
    assert alerts[gaps["id"]]["detail"] == {
        "untickedItems": ["Bathroom", "Bins"],
        "afterPhotos": 1,
    }
    assert alerts[no_photo["id"]]["detail"] == {"untickedItems": [], "afterPhotos": 0}


async def test_a_change_refused_in_sync_alerts_the_office_once(
    ctx: AppContext, branch: Branch
) -> None:
    job = (await add_jobs(branch.staff, 1))[0]  # assigned: it cannot jump to completed
    batch = branch.phone.batch([branch.phone.update(job["id"], 1, status="completed")])
    for _ in range(2):  # the replay is answered from its receipt
        [failed] = (await branch.phone.send(batch))["failed"]
    await plan(ctx)

    [alert] = await branch.alerts()
    assert alert["kind"] == "sync_rejected"
    assert alert["jobId"] == job["id"]
    assert {k: alert["detail"][k] for k in ("userId", "mutationId", "kind", "code")} == {
        "userId": branch.staff["id"],
        "mutationId": failed["mutationId"],
        "kind": "update",
        "code": "invalid_transition",
    }
    assert alert["detail"]["message"]


async def test_planning_the_same_rows_again_raises_nothing_more(
    ctx: AppContext, branch: Branch
) -> None:
    job = (await add_jobs(branch.staff, 1))[0]
    cursor = await newest_change_id()
    await check_in(branch, job["id"])
    await plan(ctx)
    assert len(await branch.alerts()) == 1

    async with write_transaction():  # a planner that lapsed before moving the cursor
        await alert_queries.move_plan_cursor(cursor)
    after = await newest_change_id()
    await plan(ctx)
    assert len(await branch.alerts()) == 1
    assert await raised_rows(after) == []
