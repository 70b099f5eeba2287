"""``/api/mobile/jobs/{id}/checkin``: proof of arrival and departure, one at a time."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.checkins.schemas import CheckInAnswer, CheckInRequest
from server.checkins.service import Geofence
from server.context import app_context
from server.core.access import Principal
from server.core.inputs import is_mutation_id
from server.core.schemas import Problem
from server.errors import ValidationFailed
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.jobs.service import parse_job_id
from server.sync import service as sync_service
from server.sync.mutations import new_mutation_id

check_in_routes = Blueprint("checkins", url_prefix="/api/mobile/jobs")


@check_in_routes.post("/<job_id:str>/checkin")
@endpoint(
    "Record a check-in or check-out; a repeat with the same mutationId (or Idempotency-Key) "
    "returns the first answer.",
    body=CheckInRequest,
    responses={201: CheckInAnswer, 401: Problem, 404: Problem, 409: Problem, 422: Problem},
)
async def check_in(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    ctx = app_context(request)
    job_id = parse_job_id(job_id)
    body = read_json(request, CheckInRequest)
    key = body.mutation_id or _idempotency_key(request) or new_mutation_id()
    geofence = Geofence(ctx.settings.geofence_radius_meters)
    answer = await sync_service.check_in(principal, job_id, body, key, geofence)
    return json_response(answer, status=201)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not is_mutation_id(key.strip()):
        raise ValidationFailed([("Idempotency-Key", "1-128 letters, digits or ._:~-")])
    return None if key is None else key.strip()
