"""Operations: liveness, readiness, metrics and the API description."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.metrics import exposition
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import send_json_get
from server.http.openapi import build_openapi
from server.ops.schemas import Health
from server.ops.service import HealthReads, readiness

ops_routes = Blueprint("ops")


@ops_routes.get("/healthz")
@endpoint("The process is alive.", roles=None, responses={200: Health})
async def healthz(request: Request) -> HTTPResponse:
    return await send_json_get(request, {"status": "ok"})


@ops_routes.get("/readyz")
@endpoint(
    "Ready to serve: the database answers (else 503, whose problem's `checks` names it "
    "`down`). `checks` says how each dependency stands; a shared store that is down is "
    "`degraded: …` while the app serves without it, and so are webhooks while an endpoint "
    "is disabled. Never why: that is in the log.",
    roles=None,
    responses={200: Health, 503: Problem},
)
async def readyz(request: Request) -> HTTPResponse:
    ctx = app_context(request)
    checks = await readiness({"cache": ctx.representations, "rateLimit": ctx.throttle})
    return await send_json_get(request, {"status": "ok", "checks": checks})


@ops_routes.get("/metrics")
@endpoint(
    "Prometheus text: requests per route, the work queues' backlogs, the change log's "
    "followers, sync outcomes and push results (see docs/operations.md).",
    roles=None,
)
async def metrics(request: Request) -> HTTPResponse:
    reads = getattr(request.app.ctx, "health_reads", None)
    if reads is None:
        reads = request.app.ctx.health_reads = HealthReads()
    await reads.record(app_context(request).mirror)
    return exposition()


@ops_routes.get("/openapi.json")
@endpoint("This document.", roles=None)
async def openapi(request: Request) -> HTTPResponse:
    # Routes are fixed once the app is built: describe them once per worker.
    document = getattr(request.app.ctx, "openapi_document", None)
    if document is None:
        document = request.app.ctx.openapi_document = build_openapi(request.app)
    return await send_json_get(request, document)
