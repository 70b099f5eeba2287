"""Prometheus request counts and latency histograms, per route.

Observed by the ``endpoint`` decorator every route wears (cheaper than a middleware pair).

With several workers, each process writes its samples to files under ``var/metrics`` and
``/metrics`` adds them up (prometheus-client's multiprocess mode), so a scrape sees the whole
server whichever worker answers it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sanic import HTTPResponse, Request

REQUESTS = Counter(
    "tinedy_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "tinedy_http_request_duration_seconds",
    "Time from request to response, per route.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)

LIVE_STREAMS = Gauge(
    "tinedy_live_streams",
    "Live-update streams (SSE and WebSocket) open now.",
    multiprocess_mode="livesum",
)

WEBHOOK_ENDPOINTS_DISABLED = Gauge(
    "tinedy_webhook_endpoints_disabled",
    "Webhook endpoints disabled after failing every delivery for WEBHOOK_DISABLE_AFTER_HOURS.",
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERIES = Gauge(
    "tinedy_webhook_deliveries",
    "Webhook deliveries by state now (retrying: queued after a failed try).",
    ["state"],
    multiprocess_mode="mostrecent",
)


def record_webhook_health(disabled: int, deliveries: dict[str, int]) -> None:
    """Read from the database at each scrape: the sender processes keep no metrics."""
    WEBHOOK_ENDPOINTS_DISABLED.set(disabled)
    for state in ("queued", "retrying", "delivered", "failed"):
        WEBHOOK_DELIVERIES.labels(state).set(deliveries.get(state, 0))


def route_label(request: Request) -> str:
    route = request.route
    return f"/{route.path}" if route is not None else "unmatched"


def observe(request: Request, status: int, seconds: float) -> None:
    request.ctx.observed = True
    route, method = route_label(request), request.method
    _latency(route, method).observe(seconds)
    _counter(route, method, status).inc()


def count_refused(request: Request, status: int) -> None:
    """Requests refused before any handler ran (unknown path, wrong method, oversize body)."""
    if not getattr(request.ctx, "observed", False):
        _counter(route_label(request), request.method, status).inc()


@lru_cache(maxsize=1024)
def _latency(route: str, method: str) -> Any:
    """Labelled children are looked up under a lock; the set of routes is small and fixed."""
    return LATENCY.labels(route, method)


@lru_cache(maxsize=4096)
def _counter(route: str, method: str, status: int) -> Any:
    return REQUESTS.labels(route, method, str(status))


def exposition(multiprocess_dir: Path | None) -> HTTPResponse:
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return HTTPResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
