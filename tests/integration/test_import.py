"""The bulk import: NDJSON of every kind in one request, answered line by line in order, bad
lines failing alone; streamed both ways through a real server; and the same from the
command line, for NDJSON and CSV files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from server.db.tables import Job
from server.integration.imports import MAX_LINE_BYTES
from tests.integration.conftest import KeyMaker
from tests.integration.test_jobs import BOOKED_AT, JOBS, make_crm, new_external_id
from tests.problems import assert_problem
from tests.servers import running_instances

IMPORT = "/api/integration/v1/import"
NDJSON = {"Content-Type": "application/x-ndjson"}
ROOT = Path(__file__).resolve().parents[2]


def ndjson(*lines: Any) -> bytes:
    """One line per item: a dict as JSON, bytes or text as given."""
    encoded = [
        orjson.dumps(line)
        if isinstance(line, dict)
        else line.encode()
        if isinstance(line, str)
        else line
        for line in lines
    ]
    return b"\n".join(encoded) + b"\n"


def job_line(external_id: str, customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "job",
        "externalId": external_id,
        "customerExternalId": customer,
        "serviceType": "Deep clean",
        "scheduledDate": BOOKED_AT,
        **fields,
    }


async def post_import(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes
) -> list[dict[str, Any]]:
    answer = await client.post(IMPORT, content=body, headers=headers | NDJSON)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in answer.content.splitlines()]


def outcomes(results: list[dict[str, Any]]) -> list[tuple[int, str, str | None]]:
    return [(r["line"], r["status"], r.get("code")) for r in results]


async def test_bad_lines_fail_alone_and_every_line_is_answered_in_order(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    headers = await crm_key("all")
    branch, customer, staff = (new_external_id(p) for p in ("BR", "CU", "ST"))
    first, second, third = (new_external_id("JOB") for _ in range(3))
    body = ndjson(
        {"kind": "branch", "externalId": branch, "name": "Bang Na"},
        {
            "kind": "customer",
            "externalId": customer,
            "name": "คุณมาลี",
            "address": "1 Bang Na Rd",
            "location": {"lat": 13.66, "lng": 100.6},
            "branchExternalId": branch,
        },
        {
            "kind": "staff",
            "externalId": staff,
            "email": f"{staff.lower()}@crm.test",
            "name": "Somchai",
            "role": "staff",
            "branchExternalId": branch,
        },
        job_line(first, customer, assigneeExternalIds=[staff], checklist=["Dust"]),
        '{"kind": "job", "externalId": "broken",',
        job_line(second, "CU-nobody"),
        "",
        "[1, 2]",
        {"kind": "invoice", "externalId": "INV-1"},
        job_line(third, customer, priority="whenever"),
        job_line(third, customer, priority="high"),
    )
    results = await post_import(client, headers, body)
    assert outcomes(results) == [
        (1, "created", None),
        (2, "created", None),
        (3, "created", None),
        (4, "created", None),
        (5, "failed", "malformed_json"),
        (6, "failed", "validation_failed"),
        (8, "failed", "validation_failed"),
        (9, "failed", "validation_failed"),
        (10, "failed", "validation_failed"),
        (11, "created", None),
    ]
    assert results[0] == {"line": 1, "kind": "branch", "externalId": branch, "status": "created"}
    assert results[5]["kind"] == "job" and results[5]["externalId"] == second
    assert "customerExternalId" in results[5]["message"]
    assert "kind" in results[7]["message"] and "priority" in results[8]["message"]
    read = await client.get(f"{JOBS}/{first}", headers=headers)
    assert read.json()["job"]["assigneeExternalIds"] == [staff]
    assert read.json()["job"]["status"] == "assigned"
    assert (await client.get(f"{JOBS}/{third}", headers=headers)).json()["job"][
        "priority"
    ] == "high"

    again = await post_import(client, headers, body)
    assert [r["status"] for r in again if r["status"] != "failed"] == ["unchanged"] * 5


async def test_each_line_needs_its_kinds_scope(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    crm = await make_crm(crm_key)
    external_id = new_external_id("JOB")
    body = ndjson(
        {"kind": "branch", "externalId": new_external_id("BR"), "name": "Thonburi"},
        job_line(external_id, crm.customer),
    )
    results = await post_import(client, crm.headers, body)  # jobs:write only
    assert outcomes(results) == [(1, "failed", "missing_scope"), (2, "created", None)]
    refused = await client.post(IMPORT, content=body, headers=await crm_key("events:read") | NDJSON)
    assert_problem(refused, 403, "missing_scope")


async def test_an_overlong_line_fails_alone_and_only_ndjson_is_taken(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    crm = await make_crm(crm_key)
    long_notes = "x" * (MAX_LINE_BYTES + 10)
    external_id = new_external_id("JOB")
    body = ndjson(
        job_line(new_external_id("JOB"), crm.customer, notes=long_notes),
        job_line(external_id, crm.customer),
    )
    results = await post_import(client, crm.headers, body)
    assert outcomes(results) == [(1, "failed", "payload_too_large"), (2, "created", None)]
    as_json = await client.post(
        IMPORT, content=body, headers=crm.headers | {"Content-Type": "application/json"}
    )
    assert_problem(as_json, 415, "unsupported_media_type")


async def test_thousands_of_lines_stream_through_a_real_server(
    database_url: str, crm_key: KeyMaker, tmp_path: Path
) -> None:
    """A chunked upload applied as it arrives, every line answered in order at the end."""
    crm = await make_crm(crm_key)
    prefix = new_external_id("BULK")
    count = 3000

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, count, 250):
            yield ndjson(
                *(
                    job_line(f"{prefix}-{n}", crm.customer, checklist=["Dust", "Mop"])
                    for n in range(start, start + 250)
                )
            )

    async with running_instances(database_url, tmp_path, count=1) as [server]:
        lines: list[dict[str, Any]] = []
        async with server.stream(
            "POST", IMPORT, content=body(), headers=crm.headers | NDJSON, timeout=60
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers.get("transfer-encoding") == "chunked"
            async for line in answer.aiter_lines():
                lines.append(orjson.loads(line))
    assert [r["line"] for r in lines] == list(range(1, count + 1))
    assert {r["status"] for r in lines} == {"created"}
    stored = await Job.count().where(Job.external_id.like(f"{prefix}-%"))
    assert stored == count


def run_import(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "DEMO": "false"}
    return subprocess.run(
        [sys.executable, "-m", "server", "import", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_command_line_imports_csv_and_ndjson(
    database_url: str, crm_key: KeyMaker, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    crm = await make_crm(crm_key)
    customer, first, second = new_external_id("CU"), new_external_id("JOB"), new_external_id("JOB")
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "externalId,name,address,lat,lng,branchExternalId,phone\n"
        f"{customer},คุณวิไล,5 Rama IX Rd,13.75,100.56,{crm.branch},\n"
    )
    result = run_import(database_url, tmp_path, str(customers), "--kind", "customer")
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "created 1, updated 0, unchanged 0, failed 0",
    ), result.stderr
    jobs = tmp_path / "jobs.csv"
    staff = crm.staff[0].external_id
    jobs.write_text(
        "kind,externalId,customerExternalId,serviceType,scheduledDate,durationMinutes,"
        "checklist,assigneeExternalIds,notes\n"
        f"job,{first},{customer},Deep clean,{BOOKED_AT},90,Dust|Mop,{staff},\n"
        f"job,{second},{customer},Deep clean,{BOOKED_AT},ninety,,,\n"
    )
    result = run_import(database_url, tmp_path, str(jobs))
    assert result.returncode == 1
    assert result.stdout.strip() == "created 1, updated 0, unchanged 0, failed 1"
    assert f"line 3 (job {second}): validation_failed: durationMinutes" in result.stderr
    record = (await client.get(f"{JOBS}/{first}", headers=crm.headers)).json()["job"]
    assert (record["durationMinutes"], record["checklist"]) == (90, ["Dust", "Mop"])
    assert (record["assigneeExternalIds"], record["notes"]) == ([staff], "")

    export = tmp_path / "export.ndjson"
    export.write_bytes(
        ndjson(
            job_line(
                first,
                customer,
                durationMinutes=90,
                checklist=["Dust", "Mop"],
                assigneeExternalIds=[staff],
                notes="gate 4411",
            ),
            "",
        )
    )
    result = run_import(database_url, tmp_path, str(export))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, failed 0"
    missing = run_import(database_url, tmp_path, str(tmp_path / "nothing.ndjson"))
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
