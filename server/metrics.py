"""Prometheus request counts and latency histograms, per route.

With several workers, each process writes its samples to files under ``var/metrics`` and
``/metrics`` adds them up (prometheus-client's multiprocess mode), so a scrape sees the whole
server whichever worker answers it.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sanic import HTTPResponse, Request
from sanic.response import BaseHTTPResponse

REQUESTS = Counter(
    "tinedy_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "tinedy_http_request_duration_seconds",
    "Time from request to response, per route.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)


def route_label(request: Request) -> str:
    route = request.route
    return f"/{route.path}" if route is not None else "unmatched"


async def start_timer(request: Request) -> None:
    request.ctx.started = time.perf_counter()


def observe(request: Request, response: BaseHTTPResponse) -> None:
    started = getattr(request.ctx, "started", None)
    if started is None:
        return
    route = route_label(request)
    _latency(route, request.method).observe(time.perf_counter() - started)
    _counter(route, request.method, response.status).inc()


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
