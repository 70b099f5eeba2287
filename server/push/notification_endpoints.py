"""``/api/mobile/notifications``: dispatchers' messages by Web Push, what became of each
delivery, and the receipts phones post when they show or open one."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.core.access import ANY_ROLE, OFFICE_ROLES, Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.http.request_log import request_id_of
from server.push import service as notification_service
from server.push.schemas import NotificationDetail, NotificationQueued, ReceiptRecorded
from server.push.service import NewNotification, NotificationReceipt

notification_routes = Blueprint("notifications", url_prefix="/api/mobile/notifications")


@notification_routes.post("/send")
@endpoint(
    "Send a message by Web Push to users, a team or a role of your branch, now or at "
    "sendAt; each recipient gets the title and body in their language. 202: kept, and sent "
    "when due (once, whatever restarts or instances come between).",
    roles=OFFICE_ROLES,
    body=NewNotification,
    responses={202: NotificationQueued, 401: Problem, 403: Problem, 422: Problem},
)
async def send(request: Request, principal: Principal) -> HTTPResponse:
    new = read_json(request, NewNotification)
    queued = await notification_service.send_notification(principal, new, request_id_of(request))
    return json_response(queued, status=202)


@notification_routes.get("/<notification_id:str>")
@endpoint(
    "A notification and each delivery's state: every delivery for the office of its "
    "branch, a recipient's own for a recipient.",
    responses={200: NotificationDetail, 401: Problem, 404: Problem},
)
async def detail(request: Request, principal: Principal, notification_id: str) -> HTTPResponse:
    answer = await notification_service.notification_detail(principal, notification_id)
    return json_response(answer, headers={"Cache-Control": "no-store"})


@notification_routes.post("/<notification_id:str>/receipts")
@endpoint(
    "The phone showed the notification (displayed) or its person opened it (clicked). "
    "Idempotent; deliveryId narrows it to one phone's delivery.",
    roles=ANY_ROLE,
    body=NotificationReceipt,
    responses={200: ReceiptRecorded, 401: Problem, 404: Problem, 422: Problem},
)
async def receipt(request: Request, principal: Principal, notification_id: str) -> HTTPResponse:
    posted = read_json(request, NotificationReceipt)
    answer = await notification_service.record_receipt(principal, notification_id, posted)
    return json_response(answer)
