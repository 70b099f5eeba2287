"""Operations: liveness, readiness, metrics and the API description."""

from __future__ import annotations

import logging

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.metrics import exposition, record_webhook_health
from server.core.schemas import Problem
from server.errors import DatabaseUnavailable
from server.http.endpoint import endpoint
from server.http.json_io import send_json_get
from server.http.openapi import build_openapi
from server.ops.queries import ping
from server.ops.schemas import Health
from server.webhooks.service import disabled_webhooks, webhook_health

log = logging.getLogger("tinedy.ops")

ops_routes = Blueprint("ops")


@ops_routes.get("/healthz")
@endpoint("The process is alive.", roles=None, responses={200: Health})
async def healthz(request: Request) -> HTTPResponse:
    return await send_json_get(request, {"status": "ok"})


@ops_routes.get("/readyz")
@endpoint(
    "Ready to serve: the database answers (else 503). `checks` says how each dependency "
    "stands; a shared store that is down is `degraded: …` while the app serves without it, "
    "and so are webhooks while an endpoint is disabled.",
    roles=None,
    responses={200: Health, 503: Problem},
)
async def readyz(request: Request) -> HTTPResponse:
    ctx = app_context(request)
    try:
        await ping()
    except Exception as exc:
        raise DatabaseUnavailable("The database did not answer.") from exc
    checks = {
        "database": "ok",
        "cache": await ctx.representations.probe(),
        "rateLimit": await ctx.throttle.probe(),
        "webhooks": _webhooks_state(await disabled_webhooks()),
    }
    return await send_json_get(request, {"status": "ok", "checks": checks})


@ops_routes.get("/metrics")
@endpoint(
    "Prometheus text: request counts and latency per route, webhook deliveries by state and "
    "disabled webhook endpoints.",
    roles=None,
)
async def metrics(request: Request) -> HTTPResponse:
    settings = app_context(request).settings
    try:
        record_webhook_health(*await webhook_health())
    except Exception:  # the request metrics still answer while the database does not
        log.warning("reading webhook health for /metrics failed", exc_info=True)
    return exposition(settings.metrics_dir)


def _webhooks_state(disabled: int) -> str:
    if not disabled:
        return "ok"
    return f"degraded: {disabled} webhook endpoint{'s' if disabled > 1 else ''} disabled"


@ops_routes.get("/openapi.json")
@endpoint("This document.", roles=None)
async def openapi(request: Request) -> HTTPResponse:
    # Routes are fixed once the app is built: describe them once per worker.
    document = getattr(request.app.ctx, "openapi_document", None)
    if document is None:
        document = request.app.ctx.openapi_document = build_openapi(request.app)
    return await send_json_get(request, document)
