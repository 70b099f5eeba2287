"""``/api/mobile/sync``: a phone's offline queue in, the changes it missed and the fate of
each of its mutations out."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.checkins.service import Geofence
from server.context import app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.errors import InvalidCursor, PayloadTooLarge
from server.http.endpoint import endpoint
from server.http.json_io import (
    dump_json,
    json_response,
    query_args,
    read_json,
    send_json_get,
    send_representation,
    validate,
    validator_of,
)
from server.sync import changes_feed as change_feed
from server.sync import service as sync_service
from server.sync.mutations import MAX_MUTATIONS, SyncBatch
from server.sync.receipts import receipts_page
from server.sync.schemas import (
    ReceiptsPage,
    ReceiptsParams,
    SyncAnswer,
    SyncChanges,
    SyncChangesParams,
)

sync_routes = Blueprint("sync", url_prefix="/api/mobile/sync")


@sync_routes.post("")
@endpoint(
    "Apply a phone's queued changes: each at most once, each on its own.",
    body=SyncBatch,
    responses={200: SyncAnswer, 400: Problem, 401: Problem, 413: Problem, 422: Problem},
)
async def sync_changes(request: Request, principal: Principal) -> HTTPResponse:
    ctx = app_context(request)
    batch = read_json(request, SyncBatch, ctx.settings.sync_max_body_bytes)
    if batch.size > MAX_MUTATIONS:
        raise PayloadTooLarge(f"Send at most {MAX_MUTATIONS} mutations per batch.")
    geofence = Geofence(ctx.settings.geofence_radius_meters)
    return json_response(await sync_service.sync_batch(principal, batch, geofence))


@sync_routes.get("/changes")
@endpoint(
    "Every job the caller may see that changed after a cursor, current state only.",
    query=SyncChangesParams,
    responses={200: SyncChanges, 304: None, 400: Problem, 401: Problem, 422: Problem},
)
async def list_changes(request: Request, principal: Principal) -> HTTPResponse:
    ctx = app_context(request)
    args = query_args(request)
    since = _cursor(args.get("since", "0"))
    params = validate(SyncChangesParams, {**args, "since": since})
    await change_feed.require_known_cursor(since, ctx.mirror.last_id)
    scope = principal.audience.version_scope
    validator = validator_of(
        "changes", scope, str(ctx.mirror.version_of(scope)), str(since), str(params.limit)
    )

    async def build() -> bytes:
        return dump_json(await change_feed.changes_since(principal, since, params.limit))

    return await send_representation(request, ctx.representations, validator, build)


@sync_routes.get("/receipts")
@endpoint(
    "The outcome of each of the caller's mutations, in the order the server received them.",
    query=ReceiptsParams,
    responses={200: ReceiptsPage, 304: None, 401: Problem, 422: Problem},
)
async def list_receipts(request: Request, principal: Principal) -> HTTPResponse:
    args = query_args(request)
    params = validate(ReceiptsParams, {**args, "since": _cursor(args.get("since", "0"))})
    page = await receipts_page(principal, params.since, params.limit)
    return await send_json_get(request, page)


def _cursor(raw: str | None) -> int:
    """A cursor is a change-log (or receipt) id: a non-negative whole number, or a 400."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidCursor("since must be a cursor from an earlier answer (0 for everything).")
    return int(raw)
