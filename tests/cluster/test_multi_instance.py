"""Two real server processes on one database: what one learns, the other knows.

The change log is the only channel between them: a job changed anywhere gives both the same
new ETag, and a device signed out on one is refused by the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from server.changes.queries import newest_change_id
from server.jobs.writes import update_job
from tests.live_clients import open_sse
from tests.servers import running_instances, wait_for
from tests.servers import sign_in as sign_in_as
from tests.world import World, add_jobs, add_staff


@pytest.fixture(scope="module")
async def instances(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with running_instances(database_url, tmp_path_factory.mktemp("instances")) as clients:
        yield clients


async def sign_in(client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    return {**await sign_in_as(client, user, "multi"), "Accept-Encoding": "br"}


async def test_a_change_reaches_both_instances_validators(
    app: Any, world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    staff = await add_staff(world)
    job = (await add_jobs(staff, 2))[0]
    headers = await sign_in(a, staff)

    async def same_etag_on_both() -> bool:
        tags = [(await c.get("/api/mobile/jobs", headers=headers)).headers["etag"] for c in (a, b)]
        return tags[0] == tags[1]

    await wait_for(same_etag_on_both, "both instances to agree on the ETag")
    etag = (await b.get("/api/mobile/jobs", headers=headers)).headers["etag"]

    await update_job(job["id"], {"priority": "urgent"}, "job.updated")

    async def b_sees_the_change() -> bool:
        answer = await b.get("/api/mobile/jobs", headers=headers | {"If-None-Match": etag})
        return answer.status_code == 200

    await wait_for(b_sees_the_change, "instance B to notice a change made elsewhere")
    page = (await b.get("/api/mobile/jobs", headers=headers)).json()
    assert next(j for j in page["jobs"] if j["id"] == job["id"])["priority"] == "urgent"
    await wait_for(same_etag_on_both, "both instances to agree on the new ETag")


async def test_signing_out_on_one_instance_is_refused_by_the_other(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    headers = await sign_in(a, world.staff_c)
    assert (await b.get("/api/mobile/jobs", headers=headers)).status_code == 200
    assert (await a.post("/api/mobile/auth/logout", headers=headers)).status_code == 204

    async def b_refuses() -> bool:
        return (await b.get("/api/mobile/jobs", headers=headers)).status_code == 401

    await wait_for(b_refuses, "instance B to refuse a signed-out device")


async def test_a_live_stream_answers_with_the_security_headers(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    """A stream's headers leave from inside its handler, before its decorator could add
    them: its blueprint's own middleware does."""
    stream = await open_sse(instances[0], await sign_in(instances[0], world.staff_c))
    try:
        assert stream.status == 200
        assert stream.headers["x-content-type-options"] == "nosniff"
        assert stream.headers["x-frame-options"] == "DENY"
        assert stream.headers["referrer-policy"] == "no-referrer"
        assert stream.headers["x-request-id"]
    finally:
        await stream.stop()


async def test_the_real_server_refuses_an_oversize_body_with_a_problem(
    instances: list[httpx.AsyncClient],
) -> None:
    response = await instances[0].post(
        "/api/mobile/auth/login",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["connection"] == "close"  # the unread body is not drained
    metrics = (await instances[0].get("/metrics")).text
    assert 'method="POST",route="/api/mobile/auth/login",status="413"' in metrics


async def test_eight_copies_of_a_batch_racing_on_two_instances_apply_once(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    staff = await add_staff(world)
    jobs = await add_jobs(staff, 3)
    headers = await sign_in(instances[0], staff)
    now = datetime.now(UTC).isoformat()
    updates = [
        {
            "mutationId": f"race-{n}",
            "jobId": jobs[n % 3]["id"],
            "baseVersion": 1,
            "clientTimestamp": now,
            "notes": f"note {n}",
        }
        for n in range(12)
    ]
    batch = {"deviceId": "multi", "deviceTime": now, "pendingUpdates": updates}
    before = await newest_change_id()

    answers = await asyncio.gather(
        *(instances[n % 2].post("/api/mobile/sync", json=batch, headers=headers) for n in range(8))
    )

    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.json() == answers[0].json() for a in answers)
    assert answers[0].json()["synced"] == [u["mutationId"] for u in updates]
    assert await newest_change_id() == before + 12, "each mutation was applied exactly once"
    receipts = await instances[1].get("/api/mobile/sync/receipts", headers=headers)
    assert [r["mutationId"] for r in receipts.json()["receipts"]] == [
        u["mutationId"] for u in updates
    ]
    detail = await instances[1].get(f"/api/mobile/jobs/{jobs[0]['id']}", headers=headers)
    assert detail.json()["job"]["version"] == 5
    assert detail.json()["job"]["notes"] == "note 9"
