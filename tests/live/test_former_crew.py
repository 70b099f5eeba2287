"""A person taken off a job learns that it left them, and nothing of what came after: not
from a sync answer (a fresh mutation on the job, made before it left), not from a check-in
made while it was theirs (no distance to where it is now), and not from a live stream resumed
from before the job existed. Through a real server process and its routes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.changes.queries import newest_change_id
from tests.live_clients import open_sse, until
from tests.servers import running_instances, sign_in
from tests.world import World, add_jobs, add_staff

DISPATCH = "/api/dispatch/jobs"
NEW_NOTES = "gate code 7777"
NEW_ADDRESS = "99 Soi Later, Bang Na"
NEW_PLACE = {"lat": 13.6681, "lng": 100.6045}


@pytest.fixture(scope="module")
async def instance(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_instances(database_url, tmp_path_factory.mktemp("former-crew"), count=1) as [
        client
    ]:
        yield client


def sync_batch(job_id: str, base_version: int, **change: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    update = {
        "mutationId": str(uuid.uuid4()),
        "jobId": job_id,
        "baseVersion": base_version,
        "clientTimestamp": now,
        **change,
    }
    return {"deviceId": "phone", "deviceTime": now, "pendingUpdates": [update]}


def learnt_nothing_after(answer: Any, taker: dict[str, Any]) -> None:
    text = json.dumps(answer, ensure_ascii=False)
    assert taker["id"] not in text, "not the new crew"
    assert NEW_NOTES not in text and NEW_ADDRESS not in text, "not the new notes or address"
    assert "en_route" not in text, "not the status it reached later"


async def test_a_former_crew_member_learns_only_that_the_job_left_them(
    world: World, instance: httpx.AsyncClient
) -> None:
    former, taker = await add_staff(world), await add_staff(world)
    before_the_job = await newest_change_id()
    [job] = await add_jobs(former, 1)
    phone = await sign_in(instance, former, f"phone-{uuid.uuid4().hex[:8]}")
    taker_phone = await sign_in(instance, taker, f"phone-{uuid.uuid4().hex[:8]}")
    office = await sign_in(instance, world.dispatcher, f"office-{uuid.uuid4().hex[:8]}")

    while_theirs = datetime.now(UTC) - timedelta(seconds=30)  # well before it moved
    moved = await instance.post(
        f"{DISPATCH}/{job['id']}/assign", json={"assigneeId": taker["id"]}, headers=office
    )
    assert moved.status_code == 200, moved.text
    edited = await instance.patch(
        f"{DISPATCH}/{job['id']}",
        json={"notes": NEW_NOTES, "address": NEW_ADDRESS, "location": NEW_PLACE},
        headers=office,
    )
    assert edited.status_code == 200, edited.text
    version = edited.json()["job"]["version"]
    on_the_way = await instance.post(
        "/api/mobile/sync",
        json=sync_batch(job["id"], version, status="en_route"),
        headers=taker_phone,
    )
    assert on_the_way.json()["synced"], on_the_way.text

    answer = await instance.post(
        "/api/mobile/sync", json=sync_batch(job["id"], 1, notes="bins out"), headers=phone
    )
    assert answer.status_code == 200, answer.text
    [conflict] = answer.json()["conflicts"]
    assert conflict["reason"] == "job_reassigned"
    assert conflict["job"] == {"id": job["id"], "removed": True}
    learnt_nothing_after(answer.json(), taker)
    visit = {"type": "in", "location": {"lat": 13.9, "lng": 100.6}, "accuracy": 5.0}
    visit["timestamp"] = while_theirs.isoformat()
    kept = await instance.post(f"/api/mobile/jobs/{job['id']}/checkin", json=visit, headers=phone)
    assert kept.status_code == 201, "a visit made while it was theirs is kept"
    verdict = kept.json()["checkIn"]
    assert verdict["distanceMeters"] is None and verdict["withinGeofence"] is None, (
        "no distance to where the job is now"
    )

    stream = await open_sse(instance, phone, last_event_id=before_the_job)
    await until(lambda: "job-unassigned" in stream.names(), "the news that the job left")
    await stream.stop()
    replayed = [event for event in stream.events if event.data["job"]["id"] == job["id"]]
    assert [event.name for event in replayed] == ["job-assigned", "job-unassigned"]
    assert replayed[1].data["job"] == {"id": job["id"], "removed": True}
    learnt_nothing_after([event.data for event in replayed], taker)
