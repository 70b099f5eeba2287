"""Check-ins: proof of a visit, append-only and idempotent, never refused for distance, and
coordinates seen only by dispatchers and admins, for a limited time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.checkins.queries import check_ins_of
from server.checkins.schemas import CheckInAnswer, CheckInList
from server.checkins.service import SKEW_AHEAD_TRUSTED, Geofence, haversine_meters
from server.context import AppContext
from server.ops.retention import purge_locations
from tests.answers import parse_answer
from tests.phones import Phone, new_id, rfc3339
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_staff, add_user, bearer

JOB_LAT, JOB_LNG = 13.7083, 100.5838  # where tests.world puts every job


def checkin_url(job_id: str) -> str:
    return f"/api/mobile/jobs/{job_id}/checkin"


def body(**extra: Any) -> dict[str, Any]:
    return {
        "type": "in",
        "location": {"lat": JOB_LAT, "lng": JOB_LNG},
        "accuracy": 12.5,
        "timestamp": rfc3339(),
        **extra,
    }


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return Phone(client, ctx, await add_staff(world))


def test_distances_on_the_earth() -> None:
    # One degree of latitude is 111,195 m on the mean Earth radius.
    assert haversine_meters(0, 0, 1, 0) == pytest.approx(111_195, abs=1)
    # 0.0187 deg north (2,079 m) and 0.0036 deg east at 13.75 N (389 m): 2,115 m apart.
    assert haversine_meters(13.7649, 100.5383, 13.7462, 100.5347) == pytest.approx(2115, abs=5)
    assert haversine_meters(JOB_LAT, JOB_LNG, JOB_LAT, JOB_LNG) == 0
    fence = Geofence(150)
    assert fence.contains(149, 0)
    assert not fence.contains(200, 10)
    assert fence.contains(200, 60), "the fix's accuracy widens the fence"
    assert not fence.contains(5000, 10_000), "but never by more than the radius"


async def test_an_arrival_on_site_is_within_the_fence_and_starts_the_job(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    response = await phone.client.post(
        checkin_url(job["id"]), json=body(mutationId=new_id()), headers=phone.headers
    )
    assert response.status_code == 201, response.text
    answer = parse_answer(CheckInAnswer, response.json()).check_in
    assert answer.within_geofence is True
    assert answer.distance_meters == 0
    assert "location" not in response.json()["checkIn"]
    detail = await phone.job(job["id"])
    assert detail["job"]["status"] == "in_progress"
    assert detail["job"]["version"] == 2


async def test_far_away_is_recorded_and_flagged_never_refused(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1, status="in_progress"))[0]
    far = body(type="out", location={"lat": 13.7649, "lng": 100.5383})
    response = await phone.client.post(checkin_url(job["id"]), json=far, headers=phone.headers)
    assert response.status_code == 201
    answer = response.json()["checkIn"]
    assert answer["withinGeofence"] is False
    assert 7000 < answer["distanceMeters"] < 9000
    stored = await check_ins_of(job["id"])
    assert [(c["type"], c["within_geofence"]) for c in stored] == [("out", False)]
    assert (await phone.job(job["id"]))["job"]["status"] == "in_progress"


@pytest.mark.parametrize("keyed_by", ["mutationId", "Idempotency-Key"])
async def test_a_repeat_returns_the_first_answer_and_records_nothing_new(
    phone: Phone, keyed_by: str
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    key = new_id()
    payload = body(mutationId=key) if keyed_by == "mutationId" else body()
    headers = phone.headers | ({"Idempotency-Key": key} if keyed_by != "mutationId" else {})
    first = await phone.client.post(checkin_url(job["id"]), json=payload, headers=headers)
    again = await phone.client.post(checkin_url(job["id"]), json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(await check_ins_of(job["id"])) == 1
    changed = await phone.client.post(
        checkin_url(job["id"]), json=payload | {"type": "out"}, headers=headers
    )
    assert_problem(changed, 409, "mutation_id_reused")
    replayed_in_batch = await phone.sync(
        check_ins=[{**payload, "mutationId": key, "jobId": job["id"]}]
    )
    assert replayed_in_batch["synced"] == [key]
    assert len(await check_ins_of(job["id"])) == 1


async def test_without_a_key_every_check_in_is_its_own(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    for _ in range(2):
        response = await phone.client.post(
            checkin_url(job["id"]), json=body(), headers=phone.headers
        )
        assert response.status_code == 201
    assert len(await check_ins_of(job["id"])) == 2


async def test_check_ins_in_a_batch_follow_the_same_rules(phone: Phone, world: World) -> None:
    job = (await add_jobs(phone.user, 1, status="en_route"))[0]
    theirs = world.jobs[world.staff_b["id"]][0]
    arrive = phone.check_in(job["id"])
    answer = await phone.sync(
        check_ins=[
            arrive,
            phone.check_in(theirs),
            phone.check_in(job["id"], location={"lat": 91, "lng": 0}),
            phone.check_in(job["id"], timestamp="2026-11-24 09:30"),
        ]
    )
    assert answer["synced"] == [arrive["mutationId"]]
    assert [f["code"] for f in answer["failed"]] == [
        "job_not_found",
        "invalid_mutation",
        "invalid_mutation",
    ]
    assert (await phone.job(job["id"]))["job"]["status"] == "in_progress"


async def test_the_recorded_time_is_corrected_by_the_measured_skew(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    slow = Phone(client, ctx, await add_staff(world), clock_offset=-timedelta(minutes=10))
    job = (await add_jobs(slow.user, 1))[0]
    await slow.sync(slow.update(job["id"], 1, notes="skew measured here"))
    response = await slow.client.post(
        checkin_url(job["id"]),
        json=body(timestamp=rfc3339(datetime.now(UTC) - timedelta(minutes=10))),
        headers=slow.headers,
    )
    recorded = datetime.fromisoformat(response.json()["checkIn"]["timestamp"])
    assert abs((recorded - datetime.now(UTC)).total_seconds()) < 60
    stored = (await check_ins_of(job["id"]))[0]
    assert stored["clock_skew_seconds"] == pytest.approx(-600, abs=60)
    assert stored["device_time"] < stored["received_at"] - timedelta(minutes=9)


async def test_a_device_time_from_the_future_cannot_back_date_a_check_in(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """A phone whose clock is right sends ``deviceTime`` two hours ahead: its check-in (and
    the next one it sends on its own) would otherwise be recorded two hours earlier."""
    phone = Phone(client, ctx, await add_staff(world))
    job = (await add_jobs(phone.user, 1))[0]
    arrived = datetime.now(UTC) - timedelta(minutes=5)
    batch = phone.batch(check_ins=[phone.check_in(job["id"], timestamp=rfc3339(arrived))])
    batch["deviceTime"] = rfc3339(datetime.now(UTC) + timedelta(hours=2))
    await phone.send(batch)
    left = datetime.now(UTC)
    response = await client.post(
        checkin_url(job["id"]),
        json=body(type="out", timestamp=rfc3339(left)),
        headers=phone.headers,
    )
    assert response.status_code == 201, response.text

    tolerance = timedelta(seconds=SKEW_AHEAD_TRUSTED + 1)
    stored = {row["type"]: row for row in await check_ins_of(job["id"])}
    assert stored["in"]["recorded_time"] >= arrived - tolerance, "never hours earlier"
    assert stored["out"]["recorded_time"] >= left - tolerance
    assert stored["in"]["clock_skew_seconds"] == pytest.approx(7200, abs=60), "kept as evidence"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"lat": 90.5, "lng": 100}}, "location.lat"),
        ({"location": {"lat": 13, "lng": -181}}, "location.lng"),
        ({"accuracy": -1}, "accuracy"),
        ({"timestamp": "2026-11-24T09:30:00"}, "timestamp"),
        ({"timestamp": "24/11/2026 09:30"}, "timestamp"),
        ({"timestamp": 1764300000}, "timestamp"),
        ({"type": "maybe"}, "type"),
    ],
)
async def test_bad_check_ins_are_422(phone: Phone, change: dict[str, Any], field: str) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    response = await phone.client.post(
        checkin_url(job["id"]), json=body() | change, headers=phone.headers
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert await check_ins_of(job["id"]) == []


async def test_someone_elses_job_is_404(phone: Phone, world: World) -> None:
    theirs = world.jobs[world.staff_b["id"]][0]
    response = await phone.client.post(checkin_url(theirs), json=body(), headers=phone.headers)
    assert_problem(response, 404, "job_not_found")
    assert await check_ins_of(theirs) == []


async def test_purge_forgets_old_coordinates_and_keeps_the_visit(phone: Phone) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    await phone.client.post(checkin_url(job["id"]), json=body(), headers=phone.headers)

    assert await purge_locations(90, phone.ctx.photo_store) == 0
    purged = await purge_locations(
        90, phone.ctx.photo_store, now=datetime.now(UTC) + timedelta(days=91)
    )

    assert purged >= 1
    [kept] = await check_ins_of(job["id"])
    assert (kept["lat"], kept["lng"], kept["accuracy"]) == (None, None, None)
    assert kept["within_geofence"] is True
    assert kept["distance_meters"] == 0


async def test_coordinates_are_for_dispatchers_and_admins_only(
    phone: Phone, world: World, ctx: AppContext
) -> None:
    job = (await add_jobs(phone.user, 1))[0]
    nearby = {"lat": 13.70911, "lng": 100.58432}
    await phone.client.post(
        checkin_url(job["id"]), json=body(location=nearby), headers=phone.headers
    )
    url = f"/api/dispatch/jobs/{job['id']}/checkins"

    seen = await phone.client.get(url, headers=bearer(ctx.signer, world.dispatcher))
    [record] = parse_answer(CheckInList, seen.json()).check_ins
    assert record.location is not None
    assert (record.location.lat, record.location.lng) == (nearby["lat"], nearby["lng"])
    assert record.user_id == phone.user["id"]
    assert (await phone.client.get(url, headers=bearer(ctx.signer, world.admin))).status_code == 200

    for staff in (phone.user, world.staff_b):
        assert_problem(
            await phone.client.get(url, headers=bearer(ctx.signer, staff)), 403, "role_forbidden"
        )
    north = await add_user("dispatcher", world.north, None)
    assert_problem(
        await phone.client.get(url, headers=bearer(ctx.signer, north)), 404, "job_not_found"
    )
    for path in (f"/api/mobile/jobs/{job['id']}", "/api/mobile/sync/changes?since=0"):
        shown = (await phone.client.get(path, headers=phone.headers)).text
        assert "100.58432" not in shown and "13.70911" not in shown
