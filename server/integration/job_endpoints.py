"""``/api/integration/v1``: jobs by the CRM's own ids, and the bulk NDJSON import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from server.audit.service import AuditActor
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.http.request_log import request_id_of
from server.http.security_headers import secure
from server.integration import imports as import_service
from server.integration import jobs as job_service
from server.integration import people as people_service
from server.integration.keys import KeyHolder, Scope
from server.integration.schemas import JobAnswer, JobRecord
from server.integration.upserts import entity_tag, expected_version

integration_job_routes = Blueprint("integration_jobs", url_prefix="/api/integration/v1")
integration_job_routes.middleware(secure, "response")  # its streams' headers leave mid-handler
REFUSALS: dict[int, type[BaseModel] | None] = {401: Problem, 403: Problem, 429: Problem}


@integration_job_routes.put("/jobs/<external_id:str>")
@endpoint(
    "Create or replace a job by the CRM's id (201 created, 200 updated or unchanged); "
    'the field\'s progress is never rewound. If-Match: "<version>" makes it conditional.',
    scope=Scope.JOBS_WRITE,
    body=JobRecord,
    responses={
        200: JobAnswer,
        201: JobAnswer,
        409: Problem,
        412: Problem,
        422: Problem,
        **REFUSALS,
    },
)
async def put_job(request: Request, holder: KeyHolder, external_id: str) -> HTTPResponse:
    record = read_json(request, JobRecord)
    upserted = await job_service.upsert_job(
        people_service.valid_external_id(external_id),
        record,
        expected_version(request.headers.get("if-match")),
        by_key(request, holder),
    )
    return job_answer(upserted.record, upserted.http_status)


@integration_job_routes.get("/jobs/<external_id:str>")
@endpoint(
    "A job as the CRM reads it back, by its id.",
    scope=Scope.JOBS_READ,
    responses={200: JobAnswer, 404: Problem, **REFUSALS},
)
async def get_job(request: Request, _holder: KeyHolder, external_id: str) -> HTTPResponse:
    return job_answer(await job_service.read_job(external_id))


def job_answer(record: dict[str, object], status: int = 200) -> HTTPResponse:
    return json_response(
        {"job": record}, status=status, headers={"ETag": entity_tag(int(str(record["version"])))}
    )


@integration_job_routes.post("/import", stream=True)
@endpoint(
    "Upsert branches, teams, staff, customers and jobs from NDJSON, one record a line; "
    "answers NDJSON, one outcome a line, in order, once the body has been read.",
    scope=(Scope.PEOPLE_WRITE, Scope.JOBS_WRITE),
    responses={200: None, 413: Problem, 415: Problem, **REFUSALS},
    stream=True,
)
async def import_records(request: Request, holder: KeyHolder) -> None:
    import_service.check_upload(
        request.headers.get("content-type"), request.headers.get("content-length")
    )
    response: HTTPResponse = await request.respond(
        content_type=import_service.NDJSON, headers={"Cache-Control": "no-store"}
    )
    answers = import_service.import_stream(
        body_chunks(request), holder.allows, by_key(request, holder)
    )
    async for answer in answers:
        await response.send(answer)
    await response.eof()  # type: ignore[no-untyped-call]
    # Nothing returned: Sanic would log an answer returned after it was sent as an error.


def by_key(request: Request, holder: KeyHolder) -> AuditActor:
    """Who the audit trail names for the CRM's writes: its key, in this request."""
    return AuditActor.api_key(holder.key_id, request_id_of(request))


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The body of a streamed route as it arrives: never held whole (Sanic lifts its own
    ``REQUEST_MAX_SIZE`` for such routes; the import keeps a cap of its own)."""
    stream: Any = request.stream  # Sanic's HTTP/1 or ASGI reader; its base class is untyped
    async for chunk in stream:
        yield chunk
