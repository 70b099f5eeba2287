"""``/api/integration/v1/events``: the field's facts in change-log order, for a CRM to poll."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.schemas import Problem
from server.errors import ValidationFailed
from server.http.endpoint import endpoint
from server.http.json_io import json_response, validate
from server.integration.events import (
    EventLinks,
    EventsPage,
    EventsParams,
    events_page,
    parse_types,
)
from server.integration.keys import KeyHolder, Scope

event_routes = Blueprint("integration_events", url_prefix="/api/integration/v1")


@event_routes.get("/events")
@endpoint(
    "Events after an id, oldest first (job.status_changed, job.completed, checkin.recorded, "
    "photo.ready, ...): pass `next` back as `after`. Stateless: nothing is missed across "
    "restarts; rows older than CHANGE_LOG_RETENTION_DAYS may have been compacted away.",
    scope=Scope.EVENTS_READ,
    query=EventsParams,
    responses={200: EventsPage, 400: Problem, 401: Problem, 403: Problem, 422: Problem},
)
async def list_events(request: Request, holder: KeyHolder) -> HTTPResponse:
    ctx = app_context(request)
    query = {k: v[0] for k, v in parse_qs(request.query_string, errors="replace").items()}
    params = validate(EventsParams, query)
    try:
        types = parse_types(params.types)
    except ValueError as exc:
        raise ValidationFailed([("types", str(exc))]) from exc
    origin = ctx.settings.public_origin or f"{request.scheme}://{request.host}"
    links = EventLinks(ctx.photo_links, origin.rstrip("/"))
    page = await events_page(params.after, params.limit, types, links, time.time())
    return json_response(page)
