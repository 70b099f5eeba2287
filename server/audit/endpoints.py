"""``/api/admin/audit``: the audit trail, for admins only.

Dispatchers are refused (403) even for their own branch: the trail records the office's own
acts (theirs among them) and people's role and device changes, which is oversight of the
office, not a tool of it."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.audit import service as audit_service
from server.audit.schemas import AuditPage, AuditParams
from server.core.access import ADMINS, Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_query

audit_routes = Blueprint("audit", url_prefix="/api/admin")


@audit_routes.get("/audit")
@endpoint(
    "The audit trail, newest first, by target, actor or both; page with `after`.",
    roles=ADMINS,
    query=AuditParams,
    responses={200: AuditPage, 401: Problem, 403: Problem, 422: Problem},
)
async def list_audit_events(request: Request, principal: Principal) -> HTTPResponse:
    params = read_query(request, AuditParams)
    page = await audit_service.audit_page(
        params.target_kind,
        params.target_id,
        None if params.actor_id is None else str(params.actor_id),
        params.after,
        params.limit,
    )
    return json_response(page)
