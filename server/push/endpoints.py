"""``/api/mobile/push``: the server's VAPID public key, and each device's Web Push
subscription."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.access import ANY_ROLE, Principal
from server.core.answers import Answer
from server.core.inputs import as_uuid
from server.core.schemas import Problem
from server.errors import SubscriptionNotFound
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.push import service as notification_service
from server.push import subscriptions as subscription_service
from server.push.schemas import PushPreferencesView, PushSubscriptionCreated, VapidPublicKey
from server.push.service import Preferences
from server.push.subscriptions import NewSubscription

push_routes = Blueprint("push", url_prefix="/api/mobile/push")


@push_routes.get("/vapid-public-key")
@endpoint(
    "The server's VAPID public key: the browser's applicationServerKey for subscribing.",
    roles=None,
    responses={200: VapidPublicKey},
)
async def vapid_public_key(request: Request) -> HTTPResponse:
    key = app_context(request).vapid.public_key
    return json_response({"publicKey": key}, headers={"Cache-Control": "public, max-age=3600"})


@push_routes.post("/subscriptions")
@endpoint(
    "Register this browser's PushSubscription (again, when its keys change): 201 with its id. "
    "Only https endpoints of known push services are taken.",
    roles=ANY_ROLE,
    body=NewSubscription,
    responses={201: PushSubscriptionCreated, 401: Problem, 422: Problem},
)
async def subscribe(request: Request, principal: Principal) -> HTTPResponse:
    ctx = app_context(request)
    subscription = read_json(request, NewSubscription)
    subscription_id = await subscription_service.subscribe(
        principal, subscription, ctx.settings.push_hosts
    )
    return json_response({"id": subscription_id}, status=201)


@push_routes.delete("/subscriptions/<subscription_id:str>")
@endpoint(
    "Forget one of the caller's subscriptions (the app unsubscribed, or signs out).",
    roles=ANY_ROLE,
    responses={204: None, 401: Problem, 404: Problem},
)
async def unsubscribe(request: Request, principal: Principal, subscription_id: str) -> HTTPResponse:
    known = as_uuid(subscription_id)
    if known is None:
        raise SubscriptionNotFound()
    await subscription_service.unsubscribe(principal, known)
    return Answer(status=204)


@push_routes.get("/preferences")
@endpoint(
    "The caller's quiet hours (Bangkok time) and the job push kinds they opted out of.",
    responses={200: PushPreferencesView, 401: Problem},
)
async def preferences(request: Request, principal: Principal) -> HTTPResponse:
    answer = await notification_service.preferences_of(principal)
    return json_response(answer, headers={"Cache-Control": "no-store"})


@push_routes.put("/preferences")
@endpoint(
    "Set quiet hours (pushes wait until they end; urgent work and high-urgency messages "
    "ring through) and opt out of job push kinds (urgent jobs cannot be opted out of).",
    body=Preferences,
    responses={200: PushPreferencesView, 401: Problem, 422: Problem},
)
async def save_preferences(request: Request, principal: Principal) -> HTTPResponse:
    wanted = read_json(request, Preferences)
    return json_response(await notification_service.save_preferences(principal, wanted))
