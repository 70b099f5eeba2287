"""``/api/mobile/jobs/{id}/issues``: a problem reported from the field, one at a time (a sync
batch carries them too, as ``issues``)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.checkins.service import Geofence
from server.context import app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.jobs.service import parse_job_id
from server.reports.schemas import ProblemAnswer
from server.reports.service import ProblemRequest
from server.sync import service as sync_service

report_routes = Blueprint("reports", url_prefix="/api/mobile/jobs")


@report_routes.post("/<job_id:str>/issues")
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
