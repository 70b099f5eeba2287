"""Web Push delivery, off the request path: each instance runs ``PUSH_SENDERS`` processes
(``python -m server send-pushes``, supervised beside the HTTP workers, at a lower CPU
priority: encrypting a broadcast is real work, and answering requests comes first). Each runs
a :class:`PushDispatcher` that turns job changes into pushes, fans due notifications out to
their recipients' subscriptions, and sends what is due through pywebpush. It looks for work
every ``PUSH_POLL_SECONDS``, and at once when PostgreSQL announces a new change.

Sending is concurrent but bounded (``PUSH_CONCURRENCY`` per process) over one shared HTTP
session, and always with a TTL, an ``Urgency`` and, for job pushes, a ``Topic``. What each
answer means is decided by :func:`settle`, a plain function: 201 accepted; 404/410 the
subscription is gone (pruned); 429 waits for ``Retry-After``; 5xx and network errors retry
with backoff until ``PUSH_MAX_ATTEMPTS`` or the TTL runs out; 413 and 400 fail with the reason.

Instances share the work through the database (see ``push/queries.py``): the
plan cursor and the scheduled notifications are taken under row locks and the deliveries
under leases, so no push is planned, fanned out or sent twice by two instances. A sender
killed after the push service took a push but before it recorded that leaves the delivery
to be sent again once its lease lapses; the job pushes' Topic makes the phone show it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from py_vapid import Vapid02
from pywebpush import WebPusher

from server.changes import queries as change_queries
from server.changes.listen import woken_by_changes
from server.config import Settings
from server.core.background import LeasePolicy, PollingLoop, RetryPolicy, run_in_background
from server.core.metrics import count_push_result
from server.db.engine import engine_for, write_transaction
from server.jobs import queries as job_queries
from server.push import plans as push_plans
from server.push import queries
from server.push.service import fan_out
from server.push.vapid import VapidKeys, load_vapid_keys

log = logging.getLogger("tinedy.push")

COMMAND = "send-pushes"
PAYLOAD_LIMIT = 3000  # bytes of JSON; the push service's limit is 4096 encrypted
DEFAULT_RETRY_AFTER = 60
LONGEST_RETRY_AFTER = 3600
VAPID_LIFETIME = 12 * 3600
PLAN_BATCH = 500
LEASE_MARGIN_SECONDS = 30
PRUNE_EVERY_SECONDS = 600
NICENESS = 5  # below the HTTP workers, above photo processing


@dataclass(frozen=True)
class Answer:
    """What came back for one push: an HTTP status (None: no answer at all)."""

    status: int | None
    retry_after: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Settlement:
    state: str
    reason: str | None = None
    next_attempt_at: datetime | None = None
    prune: bool = False


def settle(
    answer: Answer,
    attempts: int,
    now: datetime,
    expires_at: datetime,
    *,
    max_attempts: int,
    first_retry: float,
) -> Settlement:
    """What one push service answer means for the delivery (see the module docstring)."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Settlement(queries.ACCEPTED)
    if status in (404, 410):
        return Settlement(queries.FAILED, f"subscription gone ({status}): pruned", prune=True)
    if status == 413:
        return Settlement(queries.FAILED, "payload too large (413)")
    if status == 429:
        return _retry(now + _retry_after(answer.retry_after, now), expires_at, "throttled (429)")
    if status is None or status >= 500 or status == 408:
        what = f"push service error ({status})" if status else f"no answer: {answer.detail}"
        retries = RetryPolicy(max_attempts, first_retry)
        if retries.gives_up(attempts):
            return Settlement(queries.FAILED, f"gave up after {attempts} tries: {what}"[:200])
        return _retry(retries.next_attempt_at(attempts, now), expires_at, what)
    if status is not None and 300 <= status < 400:
        return Settlement(queries.FAILED, f"push service redirected ({status}): not followed")
    if status in (401, 403):
        return Settlement(queries.FAILED, f"push service refused our VAPID identity ({status})")
    detail = f": {answer.detail}" if answer.detail else ""
    return Settlement(queries.FAILED, f"rejected by the push service ({status}){detail}"[:200])


def _retry(at: datetime, expires_at: datetime, what: str) -> Settlement:
    if at > expires_at:
        return Settlement(queries.FAILED, f"expired before the push service took it: {what}")
    return Settlement(queries.QUEUED, what, next_attempt_at=at)


def _retry_after(value: str | None, now: datetime) -> timedelta:
    """``Retry-After`` as seconds or an HTTP date; a minute when missing or unreadable."""
    seconds: float = DEFAULT_RETRY_AFTER
    if value:
        try:
            seconds = float(value)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                seconds = (parsedate_to_datetime(value) - now).total_seconds()
    return timedelta(seconds=min(max(seconds, 1), LONGEST_RETRY_AFTER))


def payload_of(notification: dict[str, Any], delivery: dict[str, Any]) -> bytes:
    """The push's JSON, in the recipient's language, under :data:`PAYLOAD_LIMIT`: ids to
    fetch the rest with, never whole records."""
    locale = delivery["locale"] if delivery["locale"] in ("th", "en") else "th"

    def text(values: dict[str, str]) -> str:
        return values.get(locale) or values.get("en") or values.get("th") or ""

    message = {
        "notificationId": str(notification["id"]),
        "deliveryId": str(delivery["id"]),
        "kind": notification["kind"],
        "title": text(notification["title"]),
        "body": text(notification["body"]),
        "url": notification["url"],
        "urgency": notification["urgency"],
        "changeId": notification["change_id"],
        "jobId": str(notification["job_id"]) if notification["job_id"] else None,
        "tag": notification["topic"] or str(notification["id"]).replace("-", ""),
    }
    encoded = orjson.dumps(message)
    while len(encoded) > PAYLOAD_LIMIT and message["body"]:
        message["body"] = str(message["body"])[: len(str(message["body"])) // 2] + "…"
        encoded = orjson.dumps(message)
    return encoded


class PushSender:
    """pywebpush over one aiohttp session; VAPID headers signed once per push service
    origin and reused until near their expiry."""

    def __init__(self, vapid: VapidKeys, settings: Settings) -> None:
        self._vapid = Vapid02(private_key=vapid.private_key)
        self._subject = settings.vapid_subject
        self._timeout = aiohttp.ClientTimeout(total=settings.push_timeout_seconds)
        self._limit = settings.push_concurrency
        self._session: aiohttp.ClientSession | None = None
        self._signed: dict[str, tuple[float, dict[str, str]]] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        kept = self._signed.get(audience)
        if kept is None or kept[0] - time.time() < 3600:
            expires = int(time.time()) + VAPID_LIFETIME
            claims = {"aud": audience, "exp": expires, "sub": self._subject}
            kept = (expires, self._vapid.sign(claims))
            self._signed[audience] = kept
        return kept[1]

    async def send(
        self,
        subscription: dict[str, Any],
        payload: bytes,
        *,
        ttl: int,
        urgency: str,
        topic: str | None,
    ) -> Answer:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit)
            self._session = aiohttp.ClientSession(connector=connector)
        headers = {"Urgency": urgency, **self._vapid_headers(subscription["endpoint"])}
        if topic:
            headers["Topic"] = topic
        info = {
            "endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
        }
        try:
            response = await WebPusher(
                info, aiohttp_session=_NoRedirects(self._session)
            ).send_async(payload, headers, ttl=ttl, timeout=self._timeout)
            assert not isinstance(response, str)
            detail = "" if response.status < 300 else (await response.text())[:120]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Answer(None, detail=type(exc).__name__)
        return Answer(response.status, response.headers.get("Retry-After"), detail)


class _NoRedirects:
    """The sender's session as pywebpush sees it, except that a push service's redirect is
    answered, not followed: a subscription's endpoint was checked against
    ``PUSH_SERVICE_HOSTS`` when it was made, a redirect's target never was."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, allow_redirects=False, **kwargs)


class PushDispatcher:
    """One worker's share of the push work (see the module docstring)."""

    def __init__(self, sender: PushSender, settings: Settings) -> None:
        self._sender = sender
        self._settings = settings
        self._owner = f"push-{uuid.uuid4().hex[:12]}"
        self._queue = LeasePolicy(
            # The lease outlasts one round of sends (each within the timeout).
            timedelta(seconds=settings.push_timeout_seconds * 2 + LEASE_MARGIN_SECONDS),
            RetryPolicy(settings.push_max_attempts, settings.push_retry_seconds),
        )
        # The database restarting, say: it tries again at the next poll.
        self._loop = PollingLoop(
            "push-dispatcher",
            self.work_once,
            settings.push_poll_seconds,
            logger=log,
            doing="dispatching pushes",
            traceback=True,
            level=logging.ERROR,
        )
        self._planned_through = -1
        self._last_prune = 0.0

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Let the work in hand finish (a task cancelled inside a transaction can strand its
        pool connection), within the time a send may take; cancel it after that."""
        await self._loop.stop(grace=self._settings.push_timeout_seconds + 5)
        await self._sender.close()

    def wake(self) -> None:
        self._loop.wake()

    async def work_once(self) -> None:
        """Plan, fan out and send everything due now."""
        if await change_queries.newest_change_id() > self._planned_through:
            await self.plan()
        now = datetime.now(UTC)  # after planning: what it planned is due now
        if (due := await queries.next_scheduled_at()) is not None and due <= now:
            async with write_transaction():
                await fan_out(await queries.claim_due_notifications(now, 100), now)
        while not self._loop.stopping and await queries.any_due_delivery(now):
            if not await self.send_due():
                break
            now = datetime.now(UTC)
        if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            idle = now - timedelta(days=self._settings.push_idle_days)
            async with write_transaction():
                pruned = await queries.prune_idle_subscriptions(idle)
            if pruned:
                log.info("pruned %d idle push subscriptions", pruned)

    async def plan(self) -> None:
        """Turn job changes since the plan cursor into notifications (one instance at a time:
        the others skip the locked cursor)."""
        while True:
            async with write_transaction():
                newest = await change_queries.newest_change_id()
                cursor = await queries.lock_plan_cursor(newest)
                if cursor is None:  # another instance is planning (or just made the row)
                    return
                changes = await queries.job_changes_after(cursor, PLAN_BATCH, newest)
                if changes:
                    await plan_job_pushes(changes, self._settings.push_ttl_seconds)
                    await queries.move_plan_cursor(int(changes[-1]["id"]))
                self._planned_through = int(changes[-1]["id"]) if changes else newest
            if len(changes) < PLAN_BATCH:
                return

    async def send_due(self) -> bool:
        """Claim as many due deliveries as may be in flight, send them at once, settle them
        in one transaction. The lease outlasts one round of sends (each within the timeout),
        so no other sender takes them meanwhile. False when nothing was due."""
        now = datetime.now(UTC)
        async with write_transaction():
            claimed = await queries.claim_deliveries(
                self._owner, now, self._queue.lease_until(now), self._settings.push_concurrency
            )
        if not claimed:
            return False
        notifications = await queries.notifications_by_id(
            sorted({str(d["notification_id"]) for d in claimed})
        )
        subscriptions = await queries.subscriptions_by_id(
            sorted({str(d["subscription_id"]) for d in claimed})
        )
        answers = await asyncio.gather(
            *[self._send(d, notifications, subscriptions) for d in claimed]
        )
        done = datetime.now(UTC)
        async with write_transaction():
            for delivery, answer in zip(claimed, answers, strict=True):
                await self._record(delivery, answer, done)
        return True

    async def _send(
        self,
        delivery: dict[str, Any],
        notifications: dict[str, dict[str, Any]],
        subscriptions: dict[str, dict[str, Any]],
    ) -> Answer:
        """One push; whatever goes wrong becomes an answer, so the batch is still settled."""
        notification = notifications.get(str(delivery["notification_id"]))
        subscription = subscriptions.get(str(delivery["subscription_id"]))
        if subscription is None or notification is None:
            return Answer(410, detail="unsubscribed")
        ttl = int((delivery["expires_at"] - datetime.now(UTC)).total_seconds())
        if ttl <= 0 and notification["ttl_seconds"] > 0:
            return Answer(None, detail="expired")
        try:
            return await self._sender.send(
                subscription,
                payload_of(notification, delivery),
                ttl=max(ttl, 0),  # 0 as asked: now or never
                urgency=notification["urgency"],
                topic=notification["topic"],
            )
        except Exception as exc:  # a library's surprise must not strand the batch
            log.exception("push %s failed", delivery["id"])
            return Answer(None, detail=type(exc).__name__)

    async def _record(self, delivery: dict[str, Any], answer: Answer, now: datetime) -> None:
        count_push_result(delivery["push_service"], answer.status, self._settings.push_hosts)
        outcome = settle(
            answer,
            int(delivery["attempts"]),
            now,
            delivery["expires_at"],
            max_attempts=self._queue.retries.max_attempts,
            first_retry=self._queue.retries.first_seconds,
        )
        values: dict[Any, Any] = {"state": outcome.state, "reason": outcome.reason}
        if outcome.state == queries.ACCEPTED:
            values["accepted_at"] = now
        elif outcome.state == queries.FAILED:
            values["failed_at"] = now
        else:
            values["next_attempt_at"] = outcome.next_attempt_at
        settled = await queries.settle_delivery(str(delivery["id"]), self._owner, values)
        if not settled and outcome.state == queries.ACCEPTED:
            await queries.note_accepted(str(delivery["id"]), self._owner, now)
        if outcome.prune:
            await queries.forget_subscription(
                str(delivery["subscription_id"]), outcome.reason or "", now
            )


async def plan_job_pushes(changes: list[dict[str, Any]], ttl: int) -> None:
    """Within a write transaction: a notification per push the changes call for, for
    people with a subscription who did not opt out of its kind."""
    jobs = {
        str(row["id"]): row
        for row in await job_queries.get_jobs(sorted({str(c["job_id"]) for c in changes}))
    }
    planned = [p for c in changes for p in push_plans.job_pushes(c, jobs.get(str(c["job_id"])))]
    if not planned:
        return
    people = sorted({p.user_id for p in planned})
    subscribed = {str(s["user_id"]) for s in await queries.subscriptions_of(people)}
    preferences = await queries.preference_of(people)
    for push in planned:
        if push.user_id not in subscribed or push_plans.opted_out(
            preferences.get(push.user_id), push.kind
        ):
            continue
        job = jobs[push.job_id]
        title, body = push_plans.job_texts(push.kind, job)
        await queries.insert_notification(
            {
                "id": str(uuid.uuid4()),
                "kind": push.kind,
                "branch_id": str(job["branch"]),
                "audience": {"userIds": [push.user_id]},
                "recipients": [push.user_id],
                "title": title,
                "body": body,
                "url": f"/#job/{push.job_id}",
                "urgency": "high" if push.urgent else "normal",
                "ttl_seconds": ttl,
                "topic": push_plans.job_topic(push.job_id),
                "job_id": push.job_id,
                "change_id": push.change_id,
                "send_at": datetime.now(UTC),
            }
        )


def run_push_sender(settings: Settings) -> None:
    """A sender process's whole life: send pushes until SIGTERM or SIGINT."""
    run_in_background(lambda: _sending_pushes(settings), NICENESS)


@asynccontextmanager
async def _sending_pushes(settings: Settings) -> AsyncIterator[None]:
    vapid = load_vapid_keys(settings.data_dir, settings.vapid_private_key.get_secret_value())
    dispatcher = PushDispatcher(PushSender(vapid, settings), settings)
    notified = settings.database_url if settings.is_postgres else None
    async with (
        engine_for(settings),
        woken_by_changes(notified, dispatcher.wake, "tinedy-push-sender"),
    ):
        dispatcher.start()
        log.info("sending pushes (%d at a time)", settings.push_concurrency)
        yield
        await dispatcher.stop()
