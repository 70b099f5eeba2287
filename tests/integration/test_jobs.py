"""The CRM books jobs by its own ids: created once, the same body twice writes nothing,
If-Match guards a stale write, a reference the product does not know is a 422 naming the
field, and a booked job reaches the phone exactly as a dispatcher's would (live, and as a
push)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.tokens import TokenSigner
from server.context import AppContext
from server.db.tables import ChangeLog, Notification
from server.integration import people
from server.integration.schemas import BranchRecord, CustomerRecord, JobAnswer, StaffRecord
from server.jobs import queries as job_queries
from server.jobs.writes import update_job
from tests.answers import parse_answer
from tests.integration.conftest import KeyMaker
from tests.live_clients import open_sse, until
from tests.problems import assert_problem
from tests.push.push_service import PushService
from tests.servers import SECRET, running_instances, wait_for
from tests.world import bearer

JOBS = "/api/integration/v1/jobs"
BOOKED_AT = "2026-12-10T09:00:00+07:00"


@dataclass
class Staff:
    external_id: str
    user: dict[str, Any]  # as tests/world.py's bearer() takes it


@dataclass
class Crm:
    """What the CRM has set up before it books: a branch, a customer of it, two of its
    staff, and a key that writes jobs."""

    headers: dict[str, str]
    branch: str
    branch_id: str
    customer: str
    staff: list[Staff]

    def booking(self, **changes: Any) -> dict[str, Any]:
        """A whole job record, as the CRM sends it, with ``changes``."""
        return {
            "customerExternalId": self.customer,
            "serviceType": "Deep clean",
            "scheduledDate": BOOKED_AT,
            "durationMinutes": 120,
            "priority": "normal",
            "notes": "ระวังสุนัข",
            "checklist": ["Dust", "Mop", "Bins"],
            "assigneeExternalIds": [self.staff[0].external_id],
            **changes,
        }


def new_external_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def add_branch() -> tuple[str, str]:
    external_id = new_external_id("BR")
    made = await people.upsert_branch(external_id, BranchRecord(name="Sathorn"))
    return external_id, made.record["id"]


async def add_customer(branch: str, address: str = "1 Sathorn Rd") -> str:
    external_id = new_external_id("CU")
    record = CustomerRecord.model_validate(
        {
            "name": "คุณมาลี",
            "address": address,
            "location": {"lat": 13.72, "lng": 100.53},
            "branchExternalId": branch,
        }
    )
    await people.upsert_customer(external_id, record)
    return external_id


async def add_crm_staff(branch: str, branch_id: str, role: str = "staff") -> Staff:
    external_id = new_external_id("ST")
    record = StaffRecord.model_validate(
        {
            "email": f"{external_id.lower()}@crm.test",
            "name": "Somchai",
            "role": role,
            "branchExternalId": branch,
        }
    )
    made = await people.upsert_staff(external_id, record)
    user = {"id": made.record["id"], "role": role, "branch": branch_id, "team": None}
    return Staff(external_id, user)


async def make_crm(crm_key: KeyMaker, *scopes: str) -> Crm:
    branch, branch_id = await add_branch()
    return Crm(
        headers=await crm_key(*(scopes or ("jobs:write",))),
        branch=branch,
        branch_id=branch_id,
        customer=await add_customer(branch),
        staff=[await add_crm_staff(branch, branch_id) for _ in range(2)],
    )


@pytest.fixture
async def crm(crm_key: KeyMaker) -> Crm:
    return await make_crm(crm_key)


async def put_job(
    client: httpx.AsyncClient, crm: Crm, external_id: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.put(f"{JOBS}/{external_id}", json=body, headers=crm.headers | headers)


async def book(client: httpx.AsyncClient, crm: Crm, **changes: Any) -> dict[str, Any]:
    """A new job booked by the CRM; its answer's record."""
    external_id = new_external_id("JOB")
    answer = await put_job(client, crm, external_id, crm.booking(**changes))
    assert answer.status_code == 201, answer.text
    record: dict[str, Any] = parse_answer(JobAnswer, answer.json()).model_dump(by_alias=True)
    booked: dict[str, Any] = answer.json()["job"]
    return booked | {"_record": record}


async def change_kinds(job_id: str) -> list[str]:
    rows = (
        await ChangeLog.select(ChangeLog.kind)
        .where(ChangeLog.job_id == job_id)
        .order_by(ChangeLog.id)
    )
    return [row["kind"] for row in rows]


async def test_a_booking_becomes_a_job_and_the_same_body_twice_writes_nothing(
    client: httpx.AsyncClient, crm: Crm
) -> None:
    external_id = new_external_id("JOB")
    created = await put_job(client, crm, external_id, crm.booking())
    assert created.status_code == 201, created.text
    job = parse_answer(JobAnswer, created.json()).job
    assert created.headers["etag"] == '"1"'
    assert (job.external_id, job.version, job.status) == (external_id, 1, "assigned")
    assert job.assignee_external_ids == [crm.staff[0].external_id]
    assert job.customer_external_id == crm.customer
    assert job.checklist == ["Dust", "Mop", "Bins"]
    assert job.scheduled_date.isoformat() == BOOKED_AT
    stored = await job_queries.get_job(job.id)
    assert stored is not None
    assert str(stored["branch"]) == crm.branch_id, "the job is the customer's branch's"
    assert (stored["address"], stored["lat"], stored["lng"]) == ("1 Sathorn Rd", 13.72, 100.53)
    assert await change_kinds(job.id) == ["job.created"]

    again = await put_job(client, crm, external_id, crm.booking())
    assert again.status_code == 200, again.text
    assert again.json() == created.json(), "same version, same record"
    assert await change_kinds(job.id) == ["job.created"], "no change-log row, so no event"

    moved = await put_job(client, crm, external_id, crm.booking(priority="urgent"))
    assert moved.status_code == 200
    assert moved.json()["job"]["version"] == 2 and moved.json()["job"]["priority"] == "urgent"
    assert await change_kinds(job.id) == ["job.created", "job.reprioritised"]


async def test_without_an_assignee_a_job_waits_pending(client: httpx.AsyncClient, crm: Crm) -> None:
    job = await book(client, crm, assigneeExternalIds=[], checklist=None)
    assert (job["status"], job["assigneeExternalIds"], job["checklist"]) == ("pending", [], [])
    job = await book(client, crm, assigneeExternalIds=None)
    assert job["status"] == "pending"


async def test_if_match_makes_a_write_conditional_on_the_version(
    client: httpx.AsyncClient, crm: Crm
) -> None:
    external_id = new_external_id("JOB")
    unknown = await put_job(client, crm, external_id, crm.booking(), **{"If-Match": '"1"'})
    assert_problem(unknown, 412, "version_mismatch")
    assert (await put_job(client, crm, external_id, crm.booking())).status_code == 201
    current = await put_job(
        client, crm, external_id, crm.booking(notes="gate 4411"), **{"If-Match": '"1"'}
    )
    assert current.status_code == 200 and current.json()["job"]["version"] == 2
    stale = await put_job(
        client, crm, external_id, crm.booking(notes="gate 9999"), **{"If-Match": '"1"'}
    )
    assert_problem(stale, 412, "version_mismatch")
    read = await client.get(f"{JOBS}/{external_id}", headers=crm.headers)
    assert read.json()["job"]["notes"] == "gate 4411", "the stale write wrote nothing"
    anything = await put_job(client, crm, external_id, crm.booking(), **{"If-Match": "*"})
    assert anything.status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customerExternalId": "CU-nobody"}, "customerExternalId"),
        ({"assigneeExternalIds": ["ST-nobody"]}, "assigneeExternalIds"),
        ({"scheduledDate": "tomorrow"}, "scheduledDate"),
        ({"status": "completed"}, "status"),
        ({"durationMinutes": "120"}, "durationMinutes"),
    ],
)
async def test_a_record_the_product_cannot_take_is_422_naming_the_field(
    client: httpx.AsyncClient, crm: Crm, changes: dict[str, Any], field: str
) -> None:
    external_id = new_external_id("JOB")
    answer = await put_job(client, crm, external_id, crm.booking(**changes))
    body = assert_problem(answer, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == [field]
    assert (await client.get(f"{JOBS}/{external_id}", headers=crm.headers)).status_code == 404


async def test_a_crew_is_active_field_workers_of_the_customers_branch(
    client: httpx.AsyncClient, crm: Crm
) -> None:
    other_branch, other_branch_id = await add_branch()
    elsewhere = await add_crm_staff(other_branch, other_branch_id)
    dispatcher = await add_crm_staff(crm.branch, crm.branch_id, role="dispatcher")
    crew = [crm.staff[1].external_id, crm.staff[0].external_id]
    booked = await put_job(
        client, crm, new_external_id("JOB"), crm.booking(assigneeExternalIds=crew)
    )
    assert booked.status_code == 201
    assert booked.json()["job"]["assigneeExternalIds"] == crew  # the lead first, as sent
    for assignees, says in (
        ([*crew, elsewhere.external_id], "active staff of the job's branch"),
        ([dispatcher.external_id], "active staff of the job's branch"),
        (["ST-nobody"], "no staff has external id ST-nobody"),
    ):
        answer = await put_job(
            client, crm, new_external_id("JOB"), crm.booking(assigneeExternalIds=assignees)
        )
        [error] = assert_problem(answer, 422, "validation_failed")["errors"]
        assert error["field"] == "assigneeExternalIds" and says in error["message"]


async def test_a_job_reads_back_by_its_external_id(
    client: httpx.AsyncClient, crm: Crm, crm_key: KeyMaker
) -> None:
    job = await book(client, crm)
    reader = await crm_key("jobs:read")
    for headers in (reader, crm.headers):  # jobs:write reads what it writes
        read = await client.get(f"{JOBS}/{job['externalId']}", headers=headers)
        assert read.status_code == 200 and read.headers["etag"] == '"1"'
        assert parse_answer(JobAnswer, read.json()).model_dump(by_alias=True) == job["_record"]
    assert_problem(await client.get(f"{JOBS}/JOB-nobody", headers=reader), 404, "record_not_found")
    booking = crm.booking()
    refused = await client.put(f"{JOBS}/JOB-x", json=booking, headers=reader)
    assert_problem(refused, 403, "missing_scope")
    people_only = await crm_key("people:write")
    assert_problem(
        await client.get(f"{JOBS}/{job['externalId']}", headers=people_only), 403, "missing_scope"
    )


async def test_a_bad_external_id_in_the_path_is_422(client: httpx.AsyncClient, crm: Crm) -> None:
    answer = await put_job(client, crm, "job%20one", crm.booking())
    [error] = assert_problem(answer, 422, "validation_failed")["errors"]
    assert error["field"] == "externalId"


@pytest.fixture
async def push_service() -> Any:
    async with PushService() as service:
        yield service


async def test_a_booked_job_reaches_its_phone_live_and_as_a_push(
    database_url: str, crm: Crm, tmp_path: Path, push_service: PushService
) -> None:
    signer = TokenSigner(SECRET, 900, 86400)
    staff = crm.staff[0]
    async with running_instances(
        database_url,
        tmp_path,
        count=1,
        PUSH_SERVICE_HOSTS=push_service.origin,
        PUSH_SENDERS="1",
        PUSH_POLL_SECONDS="0.05",
    ) as [server]:
        phone = bearer(signer, staff.user)
        subscribed = await server.post(
            "/api/mobile/push/subscriptions", json=push_service.new_subscription(), headers=phone
        )
        assert subscribed.status_code == 201, subscribed.text
        stream = await open_sse(server, phone)
        try:
            external_id = new_external_id("JOB")
            booked = await server.put(
                f"{JOBS}/{external_id}", json=crm.booking(), headers=crm.headers
            )
            assert booked.status_code == 201, booked.text
            job_id = booked.json()["job"]["id"]
            await until(lambda: stream.events, "the booking on the phone's stream")
            [event] = stream.events
            assert event.name == "job-assigned" and event.data["job"]["id"] == job_id
            [push] = await push_service.wait_for(1)
            assert push.payload_json["kind"] == "assigned" and push.payload_json["jobId"] == job_id

            async def planned() -> bool:
                rows = await Notification.select(Notification.kind).where(
                    Notification.job_id == job_id
                )
                return [row["kind"] for row in rows] == ["assigned"]

            await wait_for(planned, "the booking's push in the plan")
        finally:
            await stream.stop()


async def test_a_customer_s_change_reaches_the_phones_showing_their_jobs(
    client: httpx.AsyncClient, ctx: AppContext, crm: Crm
) -> None:
    """The feed and the detail name the customer from pages cached by version: a new phone
    number moves the version, and a job nobody has set out for goes to the new address."""
    waiting, started = await book(client, crm), await book(client, crm)
    await update_job(started["id"], {"status": "in_progress"}, "job.status_changed")
    phone = bearer(ctx.signer, crm.staff[0].user)
    before = await client.get(f"/api/mobile/jobs/{waiting['id']}", headers=phone)
    moved = CustomerRecord.model_validate(
        {
            "name": "คุณมาลี",
            "phone": "0899999999",
            "address": "88 Silom Rd",
            "location": {"lat": 13.73, "lng": 100.52},
            "branchExternalId": crm.branch,
        }
    )
    await people.upsert_customer(crm.customer, moved)

    fresh = await client.get(
        f"/api/mobile/jobs/{waiting['id']}",
        headers=phone | {"If-None-Match": before.headers["etag"]},
    )
    assert fresh.status_code == 200
    assert fresh.json()["customerContact"]["phone"] == "0899999999"
    assert fresh.json()["job"]["address"] == "88 Silom Rd"
    under_way = (await client.get(f"/api/mobile/jobs/{started['id']}", headers=phone)).json()
    assert under_way["customerContact"]["phone"] == "0899999999"
    assert under_way["job"]["address"] == "1 Sathorn Rd"
