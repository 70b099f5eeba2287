"""A job's own address: a job booked at a condo 2 km from the customer's house is checked in
against the condo, keeps it when the customer moves house (while a job at the customer's
address follows them), and a check-in sent without a place is recorded all the same and
says so."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from server.changes.queries import log_rows_after, newest_change_id
from server.checkins.schemas import CheckInAnswer, CheckInList
from server.checkins.service import haversine_meters
from server.context import AppContext
from server.integration.keys import create_api_key
from server.jobs.schemas import JobDetail
from server.sync.schemas import SyncAnswer
from tests.answers import parse_answer
from tests.phones import DISPATCH, Dispatcher, Phone, new_id, rfc3339
from tests.world import World, add_jobs, add_staff, add_user

FEED = "/api/mobile/jobs"
API = "/api/integration/v1"
HOUSE = {"lat": 13.7083, "lng": 100.5838}  # where tests.world puts every customer
CONDO = {"lat": 13.7263, "lng": 100.5838}  # 0.018 degrees north: about 2 km away
NEW_HOUSE = {"lat": 13.7400, "lng": 100.5600}


@pytest.fixture
def office(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Dispatcher:
    return Dispatcher(client, ctx, world.dispatcher)


@pytest.fixture
async def phone(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Phone:
    return Phone(client, ctx, await add_staff(world))


async def check_in(
    phone: Phone, job_id: str, kind: str = "in", place: dict[str, float] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"mutationId": new_id(), "type": kind, "timestamp": rfc3339()}
    if place is not None:
        body |= {"location": place, "accuracy": 10.0}
    answer = await phone.client.post(f"{FEED}/{job_id}/checkin", json=body, headers=phone.headers)
    assert answer.status_code == 201, answer.text
    parse_answer(CheckInAnswer, answer.json())
    found: dict[str, Any] = answer.json()["checkIn"]
    return found


async def check_ins_seen_by(office: Dispatcher, job_id: str) -> list[dict[str, Any]]:
    answer = await office.client.get(f"{DISPATCH}/{job_id}/checkins", headers=office.headers)
    assert answer.status_code == 200, answer.text
    parse_answer(CheckInList, answer.json())
    found: list[dict[str, Any]] = answer.json()["checkIns"]
    return found


async def customer_of(office: Dispatcher, job_id: str) -> str:
    detail = await office.client.get(f"{FEED}/{job_id}", headers=office.headers)
    customer: str = detail.json()["job"]["customerId"]
    return customer


async def new_job(office: Dispatcher, customer_id: str, **extra: Any) -> dict[str, Any]:
    created = await office.client.post(
        DISPATCH,
        json={
            "customerId": customer_id,
            "serviceType": "Move-out clean",
            "scheduledDate": "2026-12-01T09:00:00+07:00",
            **extra,
        },
        headers=office.headers,
    )
    assert created.status_code == 201, created.text
    parse_answer(JobDetail, created.json())
    detail: dict[str, Any] = created.json()
    return detail


def test_the_condo_is_two_kilometres_from_the_house() -> None:
    apart = haversine_meters(HOUSE["lat"], HOUSE["lng"], CONDO["lat"], CONDO["lng"])
    assert apart == pytest.approx(2000, abs=10)


# The geofence is the job's own place ---------------------------------------------------


async def test_a_check_in_is_measured_against_the_jobs_own_place_not_the_customers(
    world: World, office: Dispatcher, phone: Phone
) -> None:
    customer = await customer_of(office, world.unassigned[0])
    created = await new_job(
        office,
        customer,
        assigneeIds=[phone.user["id"]],
        address="คอนโด ยูนิต 12B, 5 สุขุมวิท 24 · Condo unit 12B",
        location=CONDO,
    )
    job_id = created["job"]["id"]
    assert created["job"]["ownAddress"] is True
    assert created["job"]["address"] == "คอนโด ยูนิต 12B, 5 สุขุมวิท 24 · Condo unit 12B"
    assert created["location"] == CONDO

    at_the_condo = await check_in(phone, job_id, "in", CONDO)
    at_the_house = await check_in(phone, job_id, "out", HOUSE)

    assert at_the_condo["withinGeofence"] is True
    assert at_the_condo["distanceMeters"] == 0
    assert at_the_house["withinGeofence"] is False
    assert at_the_house["distanceMeters"] == pytest.approx(2000, abs=10)
    listed = await check_ins_seen_by(office, job_id)
    assert [(c["type"], c["withinGeofence"], c["location"]) for c in listed] == [
        ("in", True, CONDO),
        ("out", False, HOUSE),
    ]


async def test_a_job_without_its_own_address_is_at_the_customers(
    world: World, office: Dispatcher, phone: Phone
) -> None:
    customer = await customer_of(office, world.unassigned[0])
    job = (await new_job(office, customer, assigneeIds=[phone.user["id"]]))["job"]
    assert job["ownAddress"] is False
    assert (await check_in(phone, job["id"], "in", HOUSE))["withinGeofence"] is True


async def test_a_dispatcher_moves_a_job_to_its_own_place(office: Dispatcher, phone: Phone) -> None:
    job_id = (await add_jobs(phone.user, 1))[0]["id"]
    moved = await office.edit(job_id, address="Condo unit 12B", location=CONDO)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["job"]["ownAddress"], moved.json()["location"]) == (True, CONDO)
    assert (await phone.job(job_id))["job"]["address"] == "Condo unit 12B"
    assert (await check_in(phone, job_id, "in", CONDO))["withinGeofence"] is True


# The customer moves house --------------------------------------------------------------


async def test_a_job_with_its_own_address_stays_when_the_customer_moves(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    crm = {"Authorization": f"Bearer {(await create_api_key('tests', ['all'])).key}"}
    suffix = uuid.uuid4().hex[:8]
    branch, staff, customer = f"BR-{suffix}", f"ST-{suffix}", f"CU-{suffix}"

    async def put(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await client.put(f"{API}/{path}", json=body, headers=crm)
        assert answer.status_code in (200, 201), answer.text
        record: dict[str, Any] = answer.json()
        return record

    branch_id = (await put(f"branches/{branch}", {"name": "Thonglor"}))["branch"]["id"]
    worker = await put(
        f"staff/{staff}",
        {
            "email": f"{staff.lower()}@crm.test",
            "name": "Somchai",
            "role": "staff",
            "branchExternalId": branch,
            "active": True,
        },
    )
    house = {
        "name": "คุณมาลี",
        "address": "1 Sukhumvit 55",
        "location": HOUSE,
        "branchExternalId": branch,
    }
    customer_id = (await put(f"customers/{customer}", house))["customer"]["id"]
    booking = {
        "customerExternalId": customer,
        "serviceType": "Deep clean",
        "scheduledDate": "2026-12-10T09:00:00+07:00",
        "assigneeExternalIds": [staff],
    }
    at_the_condo = await put(
        f"jobs/JOB-A-{suffix}", booking | {"address": "Condo unit 12B", "location": CONDO}
    )
    at_the_house = await put(f"jobs/JOB-B-{suffix}", booking)
    assert at_the_condo["job"]["ownAddress"] is True
    assert at_the_house["job"]["ownAddress"] is False
    office = Dispatcher(client, ctx, await add_user("dispatcher", branch_id, None))
    booked_by_office = await new_job(office, customer_id, address="Office unit 3", location=CONDO)

    await put(f"customers/{customer}", house | {"address": "88 Rama IX", "location": NEW_HOUSE})

    async def place(external_id: str) -> tuple[str, dict[str, Any], bool]:
        answer = await client.get(f"{API}/jobs/{external_id}", headers=crm)
        job = answer.json()["job"]
        return job["address"], job["location"], job["ownAddress"]

    assert await place(f"JOB-A-{suffix}") == ("Condo unit 12B", CONDO, True)
    assert await place(f"JOB-B-{suffix}") == ("88 Rama IX", NEW_HOUSE, False)
    kept = await office.client.get(
        f"{FEED}/{booked_by_office['job']['id']}", headers=office.headers
    )
    assert (kept.json()["job"]["address"], kept.json()["location"]) == ("Office unit 3", CONDO)
    worker_user = {"id": worker["staff"]["id"], "role": "staff", "branch": branch_id, "team": None}
    phone = Phone(client, ctx, worker_user)
    condo_job, house_job = at_the_condo["job"]["id"], at_the_house["job"]["id"]
    assert (await check_in(phone, condo_job, "in", CONDO))["withinGeofence"] is True
    assert (await check_in(phone, house_job, "in", NEW_HOUSE))["withinGeofence"] is True


# No place at all -----------------------------------------------------------------------


async def test_a_check_in_without_a_place_is_recorded_and_says_so(
    world: World, office: Dispatcher, phone: Phone
) -> None:
    job_id = (await add_jobs(phone.user, 1))[0]["id"]
    before = await newest_change_id()

    answer = await check_in(phone, job_id, "in")

    assert answer["locationMissing"] is True
    assert answer["withinGeofence"] is None
    assert answer["distanceMeters"] is None
    [record] = await check_ins_seen_by(office, job_id)
    assert record["location"] is None
    assert record["locationMissing"] is True
    assert record["withinGeofence"] is None
    assert record["userId"] == phone.user["id"]
    facts = [r for r in await log_rows_after(before, 1000) if r["kind"] == "checkin.recorded"]
    assert [(str(f["job_id"]), f["payload"]["locationMissing"]) for f in facts] == [(job_id, True)]


async def test_a_check_out_without_a_place_synced_offline_is_recorded_too(
    office: Dispatcher, phone: Phone
) -> None:
    job_id = (await add_jobs(phone.user, 1, status="in_progress"))[0]["id"]
    blind = phone.check_in(job_id, "out")
    del blind["location"], blind["accuracy"]
    placed = phone.check_in(job_id, "out")

    answer = parse_answer(SyncAnswer, await phone.sync(check_ins=[blind, placed]))

    assert answer.synced == [blind["mutationId"], placed["mutationId"]]
    listed = await check_ins_seen_by(office, job_id)
    assert [(c["locationMissing"], c["location"], c["withinGeofence"]) for c in listed] == [
        (True, None, None),
        (False, HOUSE, True),
    ]
