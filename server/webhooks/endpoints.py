"""``/api/integration/v1/webhooks``: where the CRM wants events pushed, and how that went."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from server.audit.service import AuditActor
from server.context import app_context
from server.core.answers import Answer
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json, read_query
from server.http.request_log import request_id_of
from server.integration.keys import KeyHolder, Scope
from server.webhooks import service as webhooks
from server.webhooks.schemas import (
    DeliveriesParams,
    DeliveryAnswer,
    DeliveryList,
    NewWebhook,
    RotatedSecret,
    WebhookAnswer,
    WebhookChanges,
    WebhookCreated,
    WebhookList,
)

webhook_routes = Blueprint("webhooks", url_prefix="/api/integration/v1")

MANAGE = Scope.WEBHOOKS_MANAGE
ERRORS: dict[int, type[BaseModel] | None] = {401: Problem, 403: Problem, 429: Problem}
ONE: dict[int, type[BaseModel] | None] = {404: Problem, **ERRORS}


def _by(request: Request, holder: KeyHolder) -> AuditActor:
    return AuditActor.api_key(holder.key_id, request_id_of(request))


@webhook_routes.post("/webhooks")
@endpoint(
    "A new webhook: 201 with its id and signing secret (whsec_..., shown once). The url must "
    "be https to a public address, unless its origin is in WEBHOOK_ALLOWED_ORIGINS.",
    scope=MANAGE,
    body=NewWebhook,
    responses={201: WebhookCreated, 422: Problem, **ERRORS},
)
async def create_webhook(request: Request, holder: KeyHolder) -> HTTPResponse:
    settings = app_context(request).settings
    new = read_json(request, NewWebhook)
    made = await webhooks.create_webhook(new, settings.webhook_origins, _by(request, holder))
    return json_response(made, status=201)


@webhook_routes.get("/webhooks")
@endpoint("Every webhook (no secrets).", scope=MANAGE, responses={200: WebhookList, **ERRORS})
async def list_webhooks(request: Request, holder: KeyHolder) -> HTTPResponse:
    return json_response(await webhooks.list_webhooks())


@webhook_routes.get("/webhooks/<webhook_id:str>")
@endpoint("One webhook (no secrets).", scope=MANAGE, responses={200: WebhookAnswer, **ONE})
async def get_webhook(request: Request, holder: KeyHolder, webhook_id: str) -> HTTPResponse:
    return json_response(await webhooks.get_webhook(webhook_id))


@webhook_routes.patch("/webhooks/<webhook_id:str>")
@endpoint(
    "Change a webhook's url, events or description; `enabled: true` brings a disabled one "
    "back (its queued deliveries go at once).",
    scope=MANAGE,
    body=WebhookChanges,
    responses={200: WebhookAnswer, 422: Problem, **ONE},
)
async def change_webhook(request: Request, holder: KeyHolder, webhook_id: str) -> HTTPResponse:
    settings = app_context(request).settings
    changes = read_json(request, WebhookChanges)
    return json_response(
        await webhooks.change_webhook(
            webhook_id, changes, settings.webhook_origins, _by(request, holder)
        )
    )


@webhook_routes.delete("/webhooks/<webhook_id:str>")
@endpoint(
    "Delete a webhook: nothing more is sent to it.", scope=MANAGE, responses={204: None, **ONE}
)
async def delete_webhook(request: Request, holder: KeyHolder, webhook_id: str) -> HTTPResponse:
    await webhooks.delete_webhook(webhook_id, _by(request, holder))
    return Answer(status=204)


@webhook_routes.post("/webhooks/<webhook_id:str>/rotate-secret")
@endpoint(
    "A new signing secret; the old one signs beside it for WEBHOOK_SECRET_OVERLAP_HOURS.",
    scope=MANAGE,
    responses={200: RotatedSecret, **ONE},
)
async def rotate_secret(request: Request, holder: KeyHolder, webhook_id: str) -> HTTPResponse:
    hours = app_context(request).settings.webhook_secret_overlap_hours
    return json_response(await webhooks.rotate_secret(webhook_id, hours, _by(request, holder)))


@webhook_routes.get("/webhooks/<webhook_id:str>/deliveries")
@endpoint(
    "The delivery log, newest event first: state, tries, the receiver's last answer.",
    scope=MANAGE,
    query=DeliveriesParams,
    responses={200: DeliveryList, 422: Problem, **ONE},
)
async def list_deliveries(request: Request, holder: KeyHolder, webhook_id: str) -> HTTPResponse:
    params = read_query(request, DeliveriesParams)
    return json_response(await webhooks.list_deliveries(webhook_id, params.state, params.limit))


@webhook_routes.post("/webhooks/<webhook_id:str>/deliveries/<delivery_id:str>/replay")
@endpoint(
    "Send a delivery again (same webhook-id): queued now, behind the job's earlier events.",
    scope=MANAGE,
    responses={202: DeliveryAnswer, **ONE},
)
async def replay_delivery(
    request: Request, holder: KeyHolder, webhook_id: str, delivery_id: str
) -> HTTPResponse:
    return json_response(await webhooks.replay_delivery(webhook_id, delivery_id), status=202)
