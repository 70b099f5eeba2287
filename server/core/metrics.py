"""Prometheus metrics: requests per route, the work queues, the change log's followers, the
scheduled jobs, sync outcomes and push results. Every metric and its labels are listed in
docs/operations.md.

Every label takes its values from a known, small set, never from what a caller sends: an
HTTP method outside the standard ones is ``other``, a path no route matches is
``unmatched``; routes, statuses, sync kinds and codes, and push services (the allow-list's
entries) are bounded by the code and the configuration.

Three kinds of source:

- the request path (``endpoint`` decorator) counts into this worker's :class:`RequestTally`,
  handed to Prometheus once a second; sync increments counters whose labelled children are
  cached, so a batch pays a dictionary look-up and an add;
- the background processes (push, photo and webhook senders) count their results likewise;
- queue backlogs, the change log's followers and the scheduled jobs' outcomes are read from
  the database when ``/metrics`` is scraped (``server/ops/service.py``): the senders and the
  scheduler need not be up for them to show.

With several processes (``WORKERS>1``, or photo, push and webhook processes beside the HTTP
worker), each writes its samples to files under ``DATA_DIR/metrics`` and ``/metrics`` adds
them up (prometheus-client's multiprocess mode), so a scrape sees the whole server whichever
worker answers it. Gauges set at scrape time keep the value set last (``mostrecent``).

Counters start at 0 for every label value known in advance, so a fresh server's ``/metrics``
has their series and ``rate()`` sees the first event: those known here at import, the route
classes and push services once the app starts (``server/ops/service.py``).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from sanic import HTTPResponse, Request

from server.core.answers import Answer

HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)  # RFC 9110 section 9 and RFC 5789
OTHER = "other"
UNMATCHED = "unmatched"
QUEUES = ("photos", "pushes", "webhooks")
PLANNERS = ("alerts", "pushes", "webhooks")

REQUESTS = Counter(
    "tinedy_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
LATENCY = Histogram(
    "tinedy_http_request_duration_seconds",
    "Time from request to response, per route.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
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

READY = Gauge(
    "tinedy_ready",
    "1 when the database answered this scrape's reads (what /readyz checks), else 0.",
    multiprocess_mode="mostrecent",
)
QUEUE_BACKLOG = Gauge(
    "tinedy_queue_backlog",
    "Items waiting in a work queue, retries waiting for their time included.",
    ["queue"],
    multiprocess_mode="mostrecent",
)
QUEUE_OLDEST_AGE = Gauge(
    "tinedy_queue_oldest_age_seconds",
    "How long the queue's oldest item that is due has been due (0: none is).",
    ["queue"],
    multiprocess_mode="mostrecent",
)
PLANNER_LAG = Gauge(
    "tinedy_planner_lag_changes",
    "Change-log rows after a planner's cursor: not yet turned into pushes, webhooks or alerts.",
    ["planner"],
    multiprocess_mode="mostrecent",
)
MIRROR_LAG = Gauge(
    "tinedy_change_mirror_lag_changes",
    "Change-log rows the worker answering the scrape has not applied yet.",
    multiprocess_mode="mostrecent",
)
MIRROR_LAG_SECONDS = Gauge(
    "tinedy_change_mirror_lag_seconds",
    "Seconds since the worker answering the scrape last read the change log to its end.",
    multiprocess_mode="mostrecent",
)

SCHEDULED_LAST_SUCCESS = Gauge(
    "tinedy_scheduled_run_last_success_timestamp_seconds",
    "When a scheduled job (a retention purge) last succeeded, in Unix time (0: never).",
    ["scheduled_job"],
    multiprocess_mode="mostrecent",
)
SCHEDULED_FAILURES = Gauge(
    "tinedy_scheduled_run_failures",
    "Runs of a scheduled job that failed since its last success (0: the last one succeeded).",
    ["scheduled_job"],
    multiprocess_mode="mostrecent",
)

SYNC_MUTATIONS = Counter(
    "tinedy_sync_mutations_total",
    "Mutations sent by phones, by kind and outcome (applied, duplicate, conflict, rejected).",
    ["kind", "outcome"],
)
SYNC_CONFLICTS = Counter(
    "tinedy_sync_conflicts_total", "Mutations answered as conflicts, by code.", ["code"]
)
PUSH_RESULTS = Counter(
    "tinedy_push_results_total",
    "Web Push sends by push service (its PUSH_SERVICE_HOSTS entry) and result.",
    ["push_service", "result"],
)
PHOTO_RESULTS = Counter(
    "tinedy_photo_results_total", "Photo processing tries by result.", ["result"]
)
WEBHOOK_RESULTS = Counter(
    "tinedy_webhook_results_total", "Webhook delivery tries by result.", ["result"]
)

SYNC_KINDS = ("update", "checkin", "photo", "issue", "remark")
SYNC_OUTCOME_LABELS = ("applied", "duplicate", "conflict", "rejected")
CONFLICT_CODES = (  # server/sync/rules.py's conflict table, and job_reassigned
    "status_changed",
    "notes_changed",
    "job_cancelled",
    "job_completed",
    "job_reassigned",
    "checklist_item_changed",
)
PUSH_RESULT_LABELS = (
    "accepted",
    "gone",
    "too_large",
    "throttled",
    "service_error",
    "rejected",
    "no_answer",
)
PHOTO_RESULT_LABELS = ("ready", "failed", "retry")
WEBHOOK_RESULT_LABELS = ("delivered", "retry", "failed")


def _start_known_labels_at_zero() -> None:
    """Exposed from the start, so the first increment shows in ``rate()``."""
    for kind in SYNC_KINDS:
        for outcome in SYNC_OUTCOME_LABELS:
            SYNC_MUTATIONS.labels(kind, outcome)
    for code in CONFLICT_CODES:
        SYNC_CONFLICTS.labels(code)
    for result in PHOTO_RESULT_LABELS:
        PHOTO_RESULTS.labels(result)
    for result in WEBHOOK_RESULT_LABELS:
        WEBHOOK_RESULTS.labels(result)


_start_known_labels_at_zero()


def start_at_zero(counter: Counter, labels: Iterable[str]) -> None:
    """A counter of one label whose values are known only where it is counted (the route
    classes of the throttled-requests counter) or once settings are read."""
    for label in labels:
        counter.labels(label)


def start_push_results_at_zero(push_services: Iterable[str]) -> None:
    """Each ``PUSH_SERVICE_HOSTS`` entry with each result, at 0."""
    for service in push_services:
        for result in PUSH_RESULT_LABELS:
            _push(service, result)


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER


def route_label(request: Request) -> str:
    route = request.route
    return f"/{route.path}" if route is not None else UNMATCHED


def observe(request: Request, status: int, seconds: float) -> None:
    request.ctx.observed = True
    TALLY.add(route_label(request), method_label(request.method), status, seconds)


class RequestTally:
    """Requests counted in this worker since the last :meth:`flush`: a dictionary step each.

    In multiprocess mode every sample prometheus-client records is a locked write to a
    memory-mapped file, three per request (count, histogram sum and bucket), which made
    metrics a tenth of a 304's time. Counted here, they reach Prometheus's values once a
    second per route, method and status (:func:`flush_request_counts`), at each scrape and
    when the worker stops; a scrape is never more than a second behind. The histogram's
    batch is written through its children's ``_sum`` and ``_buckets``, the values its own
    ``observe`` writes (one bucket per sample: prometheus-client stores them uncumulated).
    """

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}

    def add(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        count = self._counts.get(key)
        if count is None:
            _counter(route, method, status)  # the series shows from the first request on
        self._counts[key] = (count or 0) + 1
        latency = self._latency.get((route, method))
        if latency is None:
            _latency(route, method)
            latency = self._latency[(route, method)] = [0.0] * (len(self._bounds) + 1)
        latency[0] += seconds
        latency[1 + bisect_left(self._bounds, seconds)] += 1

    def flush(self) -> None:
        counts, latency = self._counts, self._latency
        self._counts, self._latency = {}, {}
        for (route, method, status), count in counts.items():
            _counter(route, method, status).inc(count)
        for (route, method), (total, *buckets) in latency.items():
            child = _latency(route, method)
            child._sum.inc(total)
            for bucket, observed in zip(child._buckets, buckets, strict=True):
                if observed:
                    bucket.inc(observed)


TALLY = RequestTally((*LATENCY_BUCKETS, float("inf")))
FLUSH_SECONDS = 1.0


async def flush_request_counts() -> None:
    """A worker's task: hand its tally to Prometheus every :data:`FLUSH_SECONDS`."""
    try:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            TALLY.flush()
    finally:
        TALLY.flush()


def count_refused(request: Request, status: int) -> None:
    """Requests refused before any handler ran (unknown path, wrong method, oversize body)."""
    if not getattr(request.ctx, "observed", False):
        _counter(route_label(request), method_label(request.method), status).inc()


@lru_cache(maxsize=1024)
def _latency(route: str, method: str) -> Any:
    """Labelled children are looked up under a lock; the labels' values are bounded."""
    return LATENCY.labels(route, method)


@lru_cache(maxsize=4096)
def _counter(route: str, method: str, status: int) -> Any:
    return REQUESTS.labels(route, method, str(status))


class SyncEntry(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def mutation_id(self) -> str: ...


class SyncOutcome(Protocol):
    @property
    def answer(self) -> str:
        """synced, conflicts or failed."""
        ...

    @property
    def code(self) -> str | None: ...


SYNC_OUTCOMES = {"synced": "applied", "conflicts": "conflict", "failed": "rejected"}
REUSED_KEY = "mutation_id_reused"  # a replay whose body differs: refused, not a duplicate


def count_sync_outcomes(
    entries: Iterable[SyncEntry], outcomes: Iterable[SyncOutcome], stored: Mapping[str, Any]
) -> None:
    """One batch's outcomes: a mutation answered before (``stored``, or earlier in the batch)
    is a ``duplicate``; conflicts count again by code, duplicates only once."""
    seen = set(stored)
    for entry, outcome in zip(entries, outcomes, strict=True):
        replayed = entry.mutation_id in seen and outcome.code != REUSED_KEY
        seen.add(entry.mutation_id)
        label = "duplicate" if replayed else SYNC_OUTCOMES.get(outcome.answer, OTHER)
        _sync(entry.kind, label).inc()
        if label == "conflict":
            _conflict(outcome.code or OTHER).inc()


@lru_cache(maxsize=64)
def _sync(kind: str, outcome: str) -> Any:
    return SYNC_MUTATIONS.labels(kind, outcome)


@lru_cache(maxsize=64)
def _conflict(code: str) -> Any:
    return SYNC_CONFLICTS.labels(code)


def push_result(status: int | None) -> str:
    """What a push service's answer was, in a word (None: no answer at all)."""
    if status is None:
        return "no_answer"
    if 200 <= status < 300:
        return "accepted"
    named = {404: "gone", 410: "gone", 413: "too_large", 429: "throttled"}
    return named.get(status, "service_error" if status >= 500 else "rejected")


def push_service_label(host: str, allowed: tuple[str, ...]) -> str:
    """The allow-list entry ``host`` matched (``*.notify.windows.com``, say), so one label
    stands for a push service however many hosts it answers from."""
    host = host.lower()
    for entry in allowed:
        name = urlsplit(entry).hostname if "://" in entry else entry
        if host == name or (entry.startswith("*.") and host.endswith(entry[1:])):
            return entry
    return OTHER


def count_push_result(host: str, status: int | None, allowed: tuple[str, ...]) -> None:
    _push(push_service_label(host, allowed), push_result(status)).inc()


@lru_cache(maxsize=256)
def _push(push_service: str, result: str) -> Any:
    return PUSH_RESULTS.labels(push_service, result)


def count_photo_result(result: str) -> None:
    """``ready``, ``failed`` or ``retry``."""
    PHOTO_RESULTS.labels(result).inc()


def count_webhook_result(state: str) -> None:
    """The delivery's state after a try: ``delivered``, ``queued`` (to retry) or ``failed``."""
    WEBHOOK_RESULTS.labels("retry" if state == "queued" else state).inc()


@dataclass(frozen=True)
class QueueHealth:
    backlog: int
    oldest_due_seconds: float


@dataclass(frozen=True)
class MirrorHealth:
    lag_changes: int
    lag_seconds: float


@dataclass(frozen=True)
class ScheduledRunHealth:
    last_success: float  # Unix time, 0 when it never succeeded
    failures: int


def record_webhook_health(disabled: int, deliveries: dict[str, int]) -> None:
    """Read from the database at each scrape: the sender processes keep no metrics."""
    WEBHOOK_ENDPOINTS_DISABLED.set(disabled)
    for state in ("queued", "retrying", "delivered", "failed"):
        WEBHOOK_DELIVERIES.labels(state).set(deliveries.get(state, 0))


def record_ready(ready: bool) -> None:
    READY.set(1 if ready else 0)


def record_queues(queues: Mapping[str, QueueHealth]) -> None:
    for queue in QUEUES:
        health = queues.get(queue, QueueHealth(0, 0.0))
        QUEUE_BACKLOG.labels(queue).set(health.backlog)
        QUEUE_OLDEST_AGE.labels(queue).set(health.oldest_due_seconds)


def record_planner_lag(lags: Mapping[str, int]) -> None:
    for planner in PLANNERS:
        PLANNER_LAG.labels(planner).set(lags.get(planner, 0))


def record_mirror(health: MirrorHealth) -> None:
    MIRROR_LAG.set(health.lag_changes)
    MIRROR_LAG_SECONDS.set(health.lag_seconds)


def record_scheduled_runs(runs: Mapping[str, ScheduledRunHealth]) -> None:
    for name, health in runs.items():
        SCHEDULED_LAST_SUCCESS.labels(name).set(health.last_success)
        SCHEDULED_FAILURES.labels(name).set(health.failures)


def exposition() -> HTTPResponse:
    """Every process's samples when processes share them through files, else this one's."""
    TALLY.flush()
    registry = REGISTRY
    if values.ValueClass is not values.MutexValue:  # PROMETHEUS_MULTIPROC_DIR was set
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Answer(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
