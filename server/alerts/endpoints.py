"""``/api/dispatch/alerts``: what the office should look at, for dispatchers of the branch
(admins: every branch); staff are refused (403)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.alerts import service as alert_service
from server.alerts.schemas import AlertAnswer, AlertList, AlertsParams
from server.core.access import OFFICE_ROLES, Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_query, send_json_get

alert_routes = Blueprint("alerts", url_prefix="/api/dispatch")


@alert_routes.get("/alerts")
@endpoint(
    "The branch's alerts, newest first: open ones (not acknowledged) or all.",
    roles=OFFICE_ROLES,
    query=AlertsParams,
    responses={200: AlertList, 304: None, 401: Problem, 403: Problem, 422: Problem},
)
async def list_alerts(request: Request, principal: Principal) -> HTTPResponse:
    params = read_query(request, AlertsParams)
    alerts = await alert_service.list_alerts(principal, params.state == "open", params.limit)
    return await send_json_get(request, alerts)


@alert_routes.post("/alerts/<alert_id:str>/ack")
@endpoint(
    "Acknowledge an alert (again: the first acknowledgement stands).",
    roles=OFFICE_ROLES,
    responses={200: AlertAnswer, 401: Problem, 403: Problem, 404: Problem},
)
async def acknowledge_alert(request: Request, principal: Principal, alert_id: str) -> HTTPResponse:
    return json_response(await alert_service.acknowledge_alert(principal, alert_id))
