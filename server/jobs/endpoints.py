"""``/api/mobile/jobs``: the caller's jobs feed, one job's detail, and a problem reported on
one (a sync batch carries problems too, as ``issues``)."""

from __future__ import annotations

import time
from functools import lru_cache
from urllib.parse import parse_qs

from sanic import Blueprint, HTTPResponse, Request

from server.checkins.service import Geofence
from server.context import app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import (
    dump_json,
    json_response,
    read_json,
    send_representation,
    validate,
    validator_of,
)
from server.jobs import service as job_service
from server.jobs.cursors import CursorCodec
from server.jobs.reports import ProblemRequest
from server.jobs.schemas import FeedParams, JobDetail, JobsPage, ProblemAnswer
from server.jobs.service import FeedQuery, parse_job_id
from server.photos import service as photo_service
from server.sync import service as sync_service

job_routes = Blueprint("jobs", url_prefix="/api/mobile/jobs")


@job_routes.get("")
@endpoint(
    "The caller's jobs, in schedule order, one keyset page at a time.",
    query=FeedParams,
    responses={200: JobsPage, 304: None, 400: Problem, 401: Problem, 422: Problem},
)
async def list_jobs(request: Request, principal: Principal) -> HTTPResponse:
    ctx = app_context(request)
    query = feed_query(request.query_string, ctx.cursors)
    scope = principal.audience.version_scope
    version = ctx.mirror.version_of(scope)
    validator = validator_of("feed", scope, str(version), query.page_key)

    async def build() -> bytes:
        return dump_json(await job_service.feed_page(principal, query, ctx.cursors))

    return await send_representation(request, ctx.representations, validator, build)


@job_routes.get("/<job_id:str>")
@endpoint(
    "One job with its customer contact, checklist, photos and location.",
    responses={200: JobDetail, 304: None, 401: Problem, 404: Problem},
)
async def get_job(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    ctx = app_context(request)
    job_id = parse_job_id(job_id)
    version = await job_service.visible_job_version(principal, job_id)
    now = time.time()
    # Photo evidence is for the office, and photo URLs expire: both are part of the validator.
    audience = principal.audience.family
    links = str(ctx.photo_links.expiry(now))

    async def build() -> bytes:
        detail = await job_service.job_detail(principal, job_id)
        detail["photos"] = await photo_service.job_photos(principal, job_id, ctx.photo_links, now)
        return dump_json(detail)

    validator = validator_of("job", job_id, str(version), audience, links)
    return await send_representation(request, ctx.representations, validator, build)


@job_routes.post("/<job_id:str>/issues")
@endpoint(
    "Report a problem (customer absent, no access, unsafe...): the job goes on hold and the "
    "branch's dispatchers are alerted. The same mutationId again records nothing new.",
    body=ProblemRequest,
    responses={201: ProblemAnswer, 401: Problem, 404: Problem, 409: Problem, 422: Problem},
)
async def report_problem(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    ctx = app_context(request)
    job_id = parse_job_id(job_id)
    body = read_json(request, ProblemRequest)
    geofence = Geofence(ctx.settings.geofence_radius_meters)
    answer = await sync_service.report_problem(principal, job_id, body, geofence)
    return json_response(answer, status=201)


@lru_cache(maxsize=4096)
def feed_query(query_string: str, codec: CursorCodec) -> FeedQuery:
    """The validated query, cursor checked. Phones repeat the same few query strings, so each
    is parsed once; a bad one raises every time (exceptions are not cached)."""
    args = parse_qs(query_string, errors="replace")
    raw: dict[str, object] = {key: values[0] for key, values in args.items() if key != "status"}
    raw["status"] = args.get("status", [])
    params = validate(FeedParams, raw)
    query = FeedQuery(
        statuses=tuple(params.status),
        scheduled_from=params.from_,
        scheduled_to=params.to,
        assignee_id=str(params.assignee_id) if params.assignee_id else None,
        limit=params.limit,
        cursor=params.cursor,
    )
    return job_service.with_cursor(query, codec)
