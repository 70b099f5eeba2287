"""Who owns which field of a CRM-booked job: the table in ``docs/integration.md``, one test
per row, on both engines.

Every row: the CRM books a job for a staff member (assigned, checklist Dust, Mop, Bins);
the field (the staff member's phone, syncing) or the office does something; the CRM then
sends its record again, changed or not; the job ends as the row says.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import ChangeLog, CheckIn, Photo
from server.integration import people
from server.integration.schemas import CustomerRecord
from tests.integration.conftest import KeyMaker
from tests.integration.test_jobs import JOBS, Crm, add_crm_staff, add_customer, make_crm
from tests.integration.test_jobs import new_external_id as new_id
from tests.phones import Dispatcher, Phone
from tests.problems import assert_problem

DOCS = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
LATER = "2026-12-11T14:30:00+07:00"


@dataclass
class Scene:
    client: httpx.AsyncClient
    ctx: AppContext
    crm: Crm
    external_id: str
    job_id: str
    phone: Phone

    async def put(self, **changes: Any) -> httpx.Response:
        """The CRM sends its record again, with ``changes``."""
        return await self.client.put(
            f"{JOBS}/{self.external_id}", json=self.crm.booking(**changes), headers=self.crm.headers
        )

    async def record(self) -> dict[str, Any]:
        answer = await self.client.get(f"{JOBS}/{self.external_id}", headers=self.crm.headers)
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()["job"]
        return record

    async def detail(self) -> dict[str, Any]:
        """The job as the phone sees it."""
        return await self.phone.job(self.job_id)

    async def checklist(self) -> list[tuple[str, bool]]:
        return [(item["label"], item["done"]) for item in (await self.detail())["checklistItems"]]

    async def field_moves(self, *statuses: str) -> None:
        for status in statuses:
            version = (await self.detail())["job"]["version"]
            answer = await self.phone.sync(self.phone.update(self.job_id, version, status=status))
            assert answer["synced"], answer

    async def field_ticks(self, label: str) -> None:
        detail = await self.detail()
        [item] = [item["id"] for item in detail["checklistItems"] if item["label"] == label]
        tick = {"checklist": [{"itemId": item, "done": True}]}
        answer = await self.phone.sync(
            self.phone.update(self.job_id, detail["job"]["version"], **tick)
        )
        assert answer["synced"], answer

    async def last_change(self) -> str:
        row = await (
            ChangeLog.select(ChangeLog.kind)
            .where(ChangeLog.job_id == self.job_id)
            .order_by(ChangeLog.id, ascending=False)
            .first()
        )
        assert row is not None
        return str(row["kind"])


@pytest.fixture
async def scene(client: httpx.AsyncClient, ctx: AppContext, crm_key: KeyMaker) -> Scene:
    crm = await make_crm(crm_key)
    external_id = new_id("JOB")
    booked = await client.put(f"{JOBS}/{external_id}", json=crm.booking(), headers=crm.headers)
    assert booked.status_code == 201, booked.text
    return Scene(
        client,
        ctx,
        crm,
        external_id,
        booked.json()["job"]["id"],
        Phone(client, ctx, crm.staff[0].user),
    )


async def office_fields_while_unfinished(s: Scene) -> None:
    await s.field_moves("en_route", "in_progress")
    other = await add_customer(s.crm.branch, address="9 Silom Rd")
    changes = {
        "customerExternalId": other,
        "serviceType": "Aircon",
        "scheduledDate": LATER,
        "durationMinutes": 90,
        "priority": "high",
        "notes": "bring the ladder",
    }
    answer = await s.put(**changes)
    assert answer.status_code == 200, answer.text
    record = await s.record()
    assert {key: record[key] for key in changes} == changes
    assert record["status"] == "in_progress", "the field's progress stands"
    assert await s.last_change() == "job.rescheduled", "as a dispatcher's reschedule"


async def office_fields_once_finished(s: Scene) -> None:
    await s.field_moves("en_route", "in_progress", "completed")
    before = await s.record()
    answer = await s.put(notes="too late", priority="urgent")
    assert answer.status_code == 200
    assert answer.json()["job"] == before, "nothing written, same version"


async def place_while_not_started(s: Scene) -> None:
    await move_customer(s)  # the job follows its customer at once
    assert (await s.record())["version"] == 2
    answer = await s.put()  # the same record: nothing more to write
    assert answer.status_code == 200 and answer.json()["job"]["version"] == 2
    detail = await s.detail()
    assert detail["job"]["address"] == "77 Rama IV Rd"
    assert detail["location"] == {"lat": 13.73, "lng": 100.55}


async def place_once_under_way(s: Scene) -> None:
    await s.field_moves("en_route")
    await move_customer(s)
    before = await s.record()
    answer = await s.put()
    assert answer.json()["job"]["version"] == before["version"], "nothing to write"
    assert (await s.detail())["job"]["address"] == "1 Sathorn Rd", "they are on their way there"


async def move_customer(s: Scene) -> None:
    record = CustomerRecord.model_validate(
        {
            "name": "คุณมาลี",
            "address": "77 Rama IV Rd",
            "location": {"lat": 13.73, "lng": 100.55},
            "branchExternalId": s.crm.branch,
        }
    )
    assert (await people.upsert_customer(s.crm.customer, record)).status == "updated"


async def own_place(s: Scene) -> None:
    answer = await s.put(
        address="Condo unit 12B, 5 Sukhumvit 24", location={"lat": 13.72, "lng": 100.57}
    )
    assert answer.status_code == 200, answer.text
    await move_customer(s)
    assert (
        await s.put(
            address="Condo unit 12B, 5 Sukhumvit 24", location={"lat": 13.72, "lng": 100.57}
        )
    ).status_code == 200
    detail = await s.detail()
    assert detail["job"]["address"] == "Condo unit 12B, 5 Sukhumvit 24"
    assert detail["job"]["ownAddress"] is True
    assert detail["location"] == {"lat": 13.72, "lng": 100.57}
    record = await s.record()
    assert (record["address"], record["ownAddress"]) == ("Condo unit 12B, 5 Sukhumvit 24", True)


async def crew_while_not_started(s: Scene) -> None:
    crew = [s.crm.staff[1].external_id, s.crm.staff[0].external_id]
    answer = await s.put(assigneeExternalIds=crew)
    assert answer.status_code == 200
    assert (await s.record())["assigneeExternalIds"] == crew, "the lead first"
    assert await s.last_change() == "job.assigned"
    member = Phone(s.client, s.ctx, s.crm.staff[1].user)
    assert (await member.job(s.job_id))["job"]["assigneeIds"] == [
        s.crm.staff[1].user["id"],
        s.crm.staff[0].user["id"],
    ]
    answer = await s.put(assigneeExternalIds=[])
    record = await s.record()
    assert (record["assigneeExternalIds"], record["status"]) == ([], "pending")


async def crew_omitted(s: Scene) -> None:
    dispatcher = await add_crm_staff(s.crm.branch, s.crm.branch_id, role="dispatcher")
    moved = await Dispatcher(s.client, s.ctx, dispatcher.user).assign(
        s.job_id, s.crm.staff[1].user["id"]
    )
    assert moved.status_code == 200, moved.text
    answer = await s.put(assigneeExternalIds=None, notes="gate 4411")
    assert answer.status_code == 200
    record = await s.record()
    assert record["assigneeExternalIds"] == [s.crm.staff[1].external_id], "the office's choice"
    assert record["notes"] == "gate 4411"


async def another_crew_once_under_way(s: Scene) -> None:
    await s.field_moves("en_route")
    helper = s.crm.staff[1]
    dispatcher = await add_crm_staff(s.crm.branch, s.crm.branch_id, role="dispatcher")
    sent_help = await s.client.post(
        f"/api/dispatch/jobs/{s.job_id}/assign",
        json={"assigneeIds": [s.crm.staff[0].user["id"], helper.user["id"]]},
        headers=Dispatcher(s.client, s.ctx, dispatcher.user).headers,
    )
    assert sent_help.status_code == 200, sent_help.text
    answer = await s.put(notes="new notes")  # the CRM still names its crew of one
    assert answer.status_code == 200, answer.text
    record = await s.record()
    assert record["assigneeExternalIds"] == [s.crm.staff[0].external_id, helper.external_id]
    assert record["notes"] == "new notes"
    cancelled = await s.put(status="cancelled")
    assert cancelled.json()["job"]["status"] == "cancelled", "and a cancel still goes through"


async def rescheduled_on_hold(s: Scene) -> None:
    reported = await s.phone.sync(issues=[s.phone.issue(s.job_id, "needs_reschedule")])
    assert reported["synced"], reported
    assert (await s.record())["status"] == "on_hold"
    answer = await s.put(scheduledDate=LATER)
    assert answer.json()["job"]["status"] == "assigned", "the new day resumes it"
    assert await s.last_change() == "job.rescheduled"


async def same_crew_once_under_way(s: Scene) -> None:
    await s.field_moves("en_route")
    answer = await s.put(notes="new notes")
    assert answer.status_code == 200
    assert (await s.record())["notes"] == "new notes"


async def status_omitted(s: Scene) -> None:
    await s.field_moves("en_route", "in_progress")
    answer = await s.put()
    assert answer.json()["job"]["status"] == "in_progress", "never rewound to assigned"
    assert (await s.put(status="cancelled")).json()["job"]["status"] == "cancelled"
    answer = await s.put(notes="rebooked?")
    assert answer.json()["job"]["status"] == "cancelled", "never un-cancelled"


async def cancelled_while_unfinished(s: Scene) -> None:
    await s.field_moves("en_route")
    answer = await s.put(status="cancelled")
    assert answer.status_code == 200 and answer.json()["job"]["status"] == "cancelled"
    assert await s.last_change() == "job.cancelled"


async def cancelled_once_completed(s: Scene) -> None:
    await s.field_moves("en_route", "in_progress", "completed")
    assert_problem(await s.put(status="cancelled"), 409, "invalid_transition")
    assert (await s.record())["status"] == "completed"


async def labels(s: Scene) -> None:
    before = {item["label"]: item["id"] for item in (await s.detail())["checklistItems"]}
    answer = await s.put(checklist=["Bins", "Windows", "Dust", "Mop"])
    assert answer.status_code == 200
    assert await s.checklist() == [
        ("Bins", False),
        ("Windows", False),
        ("Dust", False),
        ("Mop", False),
    ]
    after = {item["label"]: item["id"] for item in (await s.detail())["checklistItems"]}
    assert all(after[label] == before[label] for label in before), "the same items, moved"


async def checklist_omitted(s: Scene) -> None:
    await s.field_ticks("Mop")
    answer = await s.put(checklist=None, notes="gate 4411")
    assert answer.status_code == 200
    assert await s.checklist() == [("Dust", False), ("Mop", True), ("Bins", False)]


async def unticked_item_left_the_list(s: Scene) -> None:
    assert (await s.put(checklist=["Dust", "Bins"])).status_code == 200
    assert await s.checklist() == [("Dust", False), ("Bins", False)]


async def ticked_item_left_the_list(s: Scene) -> None:
    await s.field_ticks("Mop")
    assert (await s.put(checklist=["Dust", "Bins"])).status_code == 200
    assert await s.checklist() == [("Dust", False), ("Bins", False), ("Mop", True)]
    again = await s.put(checklist=["Dust", "Bins"])
    assert again.json()["job"]["checklist"] == ["Dust", "Bins", "Mop"]
    assert again.json()["job"]["version"] == (await s.record())["version"], "settled"


async def ticked_item_stays_on_the_list(s: Scene) -> None:
    await s.field_ticks("Dust")
    assert (await s.put(checklist=["Mop", "Dust"])).status_code == 200
    assert await s.checklist() == [("Mop", False), ("Dust", True)]


async def the_fields_records(s: Scene) -> None:
    arrived = await s.phone.sync(
        check_ins=[s.phone.check_in(s.job_id)],
        remarks=[s.phone.remark(s.job_id, "dog in the garden")],
        issues=[s.phone.issue(s.job_id, "needs_reschedule")],
    )
    assert len(arrived["synced"]) == 3, arrived
    photo = await s.client.post(
        f"/api/mobile/jobs/{s.job_id}/photos/upload-url",
        json={"kind": "before", "contentType": "image/jpeg"},
        headers=s.phone.headers,
    )
    assert photo.status_code == 201, photo.text
    answer = await s.put(checklist=["Windows"], notes="changed", status="cancelled")
    assert answer.status_code == 200
    assert await CheckIn.count().where(CheckIn.job == s.job_id) == 1
    assert await Photo.count().where(Photo.job == s.job_id) == 1
    detail = await s.detail()
    assert [r["text"] for r in detail["remarks"]] == ["dog in the garden"]
    assert [p["reason"] for p in detail["problems"]] == ["needs_reschedule"]


Row = Callable[[Scene], Awaitable[None]]
TABLE: dict[str, Row] = {
    "customer, serviceType, scheduledDate, durationMinutes, priority, notes / "
    "the job is not finished (even under way)": office_fields_while_unfinished,
    "customer, serviceType, scheduledDate, durationMinutes, priority, notes / "
    "the job is completed or cancelled": office_fields_once_finished,
    "address, location / the job is pending or assigned": place_while_not_started,
    "address, location / the record gives the job its own": own_place,
    "address, location / the job is under way": place_once_under_way,
    "crew / the job is pending or assigned": crew_while_not_started,
    "crew / assigneeExternalIds omitted": crew_omitted,
    "crew / under way, another crew": another_crew_once_under_way,
    "crew / under way, the same crew": same_crew_once_under_way,
    "scheduledDate / the job is on hold, a new date": rescheduled_on_hold,
    "status / omitted": status_omitted,
    'status / "cancelled", the job not finished': cancelled_while_unfinished,
    'status / "cancelled", the job completed': cancelled_once_completed,
    "checklist labels / the job is not finished": labels,
    "checklist / omitted": checklist_omitted,
    "an unticked item / its label left the list": unticked_item_left_the_list,
    "a ticked item / its label left the list": ticked_item_left_the_list,
    "a ticked item / its label is still on the list": ticked_item_stays_on_the_list,
    "photos, check-ins, problems, remarks / always": the_fields_records,
}


@pytest.mark.parametrize("row", TABLE)
async def test_field_ownership(scene: Scene, row: str) -> None:
    await TABLE[row](scene)


def test_the_documented_table_is_the_tested_one() -> None:
    """docs/integration.md's ownership table names exactly these rows, in this order."""
    section = DOCS.read_text().split("## Field ownership", 1)[1].split("\n## ", 1)[0]
    cells = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not re.match(r"^\|[\s:|-]+\|$", line)
    ]
    documented = [f"{field} / {when}".replace("`", "") for field, when, *_ in cells[1:]]
    assert documented == [row.replace("`", "") for row in TABLE]
