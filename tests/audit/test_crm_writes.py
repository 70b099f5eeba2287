"""The office CRM's writes leave the events a dispatcher's leave, naming its API key and the
request: jobs upserted one at a time or through the NDJSON import, and staff changed through
the import; an unchanged or refused upsert records nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from server.integration.keys import create_api_key
from tests.audit.conftest import events_on, traced
from tests.integration.test_import import job_line, ndjson, post_import
from tests.integration.test_jobs import JOBS, Crm, make_crm, new_external_id
from tests.world import World


@dataclass
class Key:
    id: str
    crm: Crm


async def crm_key(*scopes: str) -> Key:
    """A CRM set up with a new key of ``scopes``, and the key's id."""
    made = await create_api_key("audit-crm", list(scopes))

    async def headers(*_: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {made.key}"}

    return Key(made.record["id"], await make_crm(headers))


def by_key(events: list[dict[str, Any]], key: Key) -> list[tuple[str, str | None]]:
    """Each event's action and request id, once it is checked that the key did it."""
    assert {(e["actor_kind"], str(e["actor_id"])) for e in events} == {("api_key", key.id)}
    assert {str(e["branch_id"]) for e in events} == {key.crm.branch_id}
    return [(e["action"], e["request_id"]) for e in events]


async def test_the_crm_s_job_upserts_are_audited_with_its_key_and_request(
    client: httpx.AsyncClient, world: World
) -> None:
    key = await crm_key("jobs:write")
    crm, url = key.crm, f"{JOBS}/{new_external_id('JOB')}"
    first, second = (staff.user["id"] for staff in crm.staff)
    steps = [
        crm.booking(assigneeExternalIds=[]),
        crm.booking(),
        crm.booking(assigneeExternalIds=[crm.staff[1].external_id]),
        crm.booking(assigneeExternalIds=[crm.staff[1].external_id]),  # the same body
        crm.booking(assigneeExternalIds=[crm.staff[1].external_id], priority="urgent"),
    ]
    request_ids: list[str] = []
    for body in steps:
        headers = traced()
        answer = await client.put(url, json=body, headers=crm.headers | headers)
        assert answer.is_success, answer.text
        request_ids.append(headers["X-Request-Id"])
    job_id = answer.json()["job"]["id"]
    stale = await client.put(url, json=steps[0], headers=crm.headers | {"If-Match": '"1"'})
    assert stale.status_code == 412, stale.text

    events = await events_on(job_id)
    assert by_key(events, key) == [
        ("job.created", request_ids[0]),
        ("job.assigned", request_ids[1]),
        ("job.reassigned", request_ids[2]),
        ("job.reprioritised", request_ids[4]),
    ], "the same body again, and a refused one, record nothing"
    assert [e["detail"] for e in events] == [
        {"crew": []},
        {"crew": [first], "previousCrew": [], "fields": ["crew", "status"]},
        {"crew": [second], "previousCrew": [first], "fields": ["crew"]},
        {"fields": ["priority"]},
    ]


async def test_an_import_s_job_lines_are_audited_with_the_key_and_request(
    client: httpx.AsyncClient, world: World
) -> None:
    key = await crm_key("jobs:write")
    crm, external_id = key.crm, new_external_id("JOB")
    first, second = crm.staff
    lines = [
        job_line(external_id, crm.customer, assigneeExternalIds=[first.external_id]),
        job_line(external_id, crm.customer, assigneeExternalIds=[second.external_id]),
        job_line(external_id, crm.customer, assigneeExternalIds=[second.external_id]),
    ]
    request_ids: list[str] = []
    for line in lines:
        headers = traced()
        [result] = await post_import(client, crm.headers | headers, ndjson(line))
        assert result["status"] in ("created", "updated", "unchanged"), result
        request_ids.append(headers["X-Request-Id"])
    assert result["status"] == "unchanged"

    job = await client.get(f"{JOBS}/{external_id}", headers=crm.headers)
    events = await events_on(job.json()["job"]["id"])
    assert by_key(events, key) == [
        ("job.created", request_ids[0]),
        ("job.reassigned", request_ids[1]),
    ]
    assert events[1]["detail"] == {
        "crew": [second.user["id"]],
        "previousCrew": [first.user["id"]],
        "fields": ["crew"],
    }


async def test_staff_changed_through_the_import_are_audited_with_the_key(
    client: httpx.AsyncClient, world: World
) -> None:
    key = await crm_key("people:write")
    external_id = new_external_id("ST")
    person = {
        "kind": "staff",
        "externalId": external_id,
        "email": f"{external_id.lower()}@crm.test",
        "name": "Somchai",
        "role": "staff",
        "branchExternalId": key.crm.branch,
    }
    request_ids: list[str] = []
    for line in (person, person | {"role": "dispatcher"}, person | {"role": "dispatcher"}):
        headers = traced()
        [result] = await post_import(client, key.crm.headers | headers, ndjson(line))
        assert result["status"] != "failed", result
        request_ids.append(headers["X-Request-Id"])

    staff = await client.get(f"/api/integration/v1/staff/{external_id}", headers=key.crm.headers)
    events = await events_on(staff.json()["staff"]["id"])
    assert by_key(events, key) == [
        ("user.created", request_ids[0]),
        ("user.role_changed", request_ids[1]),
    ]
    assert events[1]["detail"] == {"fields": ["role"], "role": ["staff", "dispatcher"]}
