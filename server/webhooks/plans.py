"""Which endpoints an event goes to, and what a receiver's answer means: plain functions.

An event goes to every enabled endpoint subscribed to its type that existed when it happened
(a new webhook does not get the past; the pull feed has it). A try is delivered on any 2xx;
anything else (another status, a redirect, which is never followed, a timeout, no
connection) is retried: ``WEBHOOK_RETRY_SECONDS`` after the first failure, doubling, at most
an hour apart, for as long as the endpoint is enabled. An endpoint that has failed every try
for ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled; its deliveries stay queued, and go when it is
enabled again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.core.background import RetryPolicy
from server.webhooks.queries import DELIVERED, QUEUED

LONGEST_RETRY_SECONDS = 3600.0
NEVER_GIVES_UP = 2**31  # tries: an endpoint is disabled long before


def retry_policy(first_seconds: float) -> RetryPolicy:
    return RetryPolicy(NEVER_GIVES_UP, first_seconds, LONGEST_RETRY_SECONDS)


def body_of(event: dict[str, Any]) -> dict[str, Any]:
    """A delivery's body: the pull feed's event without its id (that is ``webhook-id``)."""
    return {"type": event["type"], "timestamp": event["occurredAt"], "data": event["data"]}


def deliveries_for(
    row: dict[str, Any], event: dict[str, Any], endpoints: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The delivery rows one event calls for (``row`` is its change-log row)."""
    return [
        {
            "id": str(uuid.uuid4()),
            "endpoint_id": str(endpoint["id"]),
            "event_id": int(row["id"]),
            "event_type": event["type"],
            "job_id": row["job_id"],
            "body": body_of(event),
            "state": QUEUED,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint in endpoints
        if event["type"] in endpoint["events"]
        and endpoint["disabled_at"] is None
        and endpoint["created_at"] <= row["occurred_at"]
    ]


@dataclass(frozen=True)
class Answer:
    """What came back for one try: an HTTP status (None: no answer at all) and a word on it."""

    status: int | None
    detail: str = ""


@dataclass(frozen=True)
class Settlement:
    state: str
    error: str = ""
    next_attempt_at: datetime | None = None

    @property
    def failed_try(self) -> bool:
        return self.state != DELIVERED


def settle(answer: Answer, attempts: int, now: datetime, retries: RetryPolicy) -> Settlement:
    """What one try's answer means for its delivery (see the module docstring)."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Settlement(DELIVERED)
    if status is None:
        what = f"no answer: {answer.detail}"
    elif 300 <= status < 400:
        what = f"redirected ({status}): redirects are not followed"
    else:
        what = f"answered {status}" + (f": {answer.detail}" if answer.detail else "")
    return Settlement(QUEUED, what[:300], retries.next_attempt_at(attempts, now))


def claimable(
    queued: list[dict[str, Any]], now: datetime, limit: int
) -> tuple[list[str], datetime | None]:
    """Of the queue (in event order), up to ``limit`` deliveries that may go now, soonest
    due first: each job's first queued event per endpoint (a later one waits for it, so one
    job's events arrive in order), when due and not in flight. Also when the first of the
    rest becomes free (None: nothing waits on time)."""
    heads: set[tuple[str, str]] = set()
    ready: list[dict[str, Any]] = []
    soonest: datetime | None = None
    for row in queued:
        if row["job_id"] is not None:
            chain = (str(row["endpoint_id"]), str(row["job_id"]))
            if chain in heads:
                continue
            heads.add(chain)
        free_at = max(row["next_attempt_at"], row["lease_until"] or row["next_attempt_at"])
        if free_at <= now:
            ready.append(row)
        elif soonest is None or free_at < soonest:
            soonest = free_at
    ready.sort(key=lambda row: (row["next_attempt_at"], row["event_id"]))
    return [str(row["id"]) for row in ready[:limit]], soonest


def disables(failing_since: datetime | None, now: datetime, after: timedelta) -> bool:
    """Whether an endpoint failing since ``failing_since`` has failed long enough."""
    return failing_since is not None and now - failing_since >= after
