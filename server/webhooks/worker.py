"""Webhook delivery, off the request path: each instance runs ``WEBHOOK_SENDERS`` processes
(``python -m server send-webhooks``, supervised beside the HTTP workers). Each runs a
:class:`WebhookDispatcher` that plans new change-log rows into deliveries and sends what is
due. It looks for work every ``WEBHOOK_POLL_SECONDS``, and at once when PostgreSQL announces a
new change.

Sending is concurrent but bounded (``WEBHOOK_CONCURRENCY`` per process) over one aiohttp
session whose resolver refuses inward addresses (``guard.py``); redirects are not followed;
each try has ``WEBHOOK_TIMEOUT_SECONDS``. What an answer means is :func:`plans.settle`.
A sender killed after a receiver took a delivery but before it recorded that sends it again
once its lease lapses: delivery is at least once, and ``webhook-id`` lets the receiver drop
the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from server.changes import queries as change_queries
from server.changes.listen import woken_by_changes
from server.config import Settings
from server.core.background import LeasePolicy, PollingLoop, run_in_background
from server.core.metrics import count_webhook_result
from server.db.engine import engine_for, write_transaction
from server.integration.events import EventLinks
from server.photos.links import PhotoLinks
from server.webhooks import plans
from server.webhooks import queries as webhook_queries
from server.webhooks.guard import GuardedResolver, allowed_origins, refused_literal
from server.webhooks.service import PLAN_BATCH, plan_deliveries
from server.webhooks.signing import signed_headers, signing_secrets

log = logging.getLogger("tinedy.webhooks")

COMMAND = "send-webhooks"
LEASE_MARGIN_SECONDS = 30
NICENESS = 5  # below the HTTP workers, like the push senders
ANSWER_EXCERPT = 200  # bytes of a failing receiver's body kept in the delivery log
PRUNE_EVERY_SECONDS = 600
WAIT_AT_MOST_SECONDS = 2.0  # a replay or a re-enabled webhook is seen within this
PICK_AHEAD = 8  # rounds of sends picked from one read of the queue


def event_links(settings: Settings) -> EventLinks:
    """Photo links in webhook bodies: absolute when the app's public origin is set."""
    links = PhotoLinks(settings.secret_key, settings.photo_url_seconds)
    return EventLinks(links, settings.public_origin)


class WebhookSender:
    """POSTs signed bodies over one aiohttp session; never follows a redirect."""

    def __init__(self, settings: Settings) -> None:
        self._allowed = allowed_origins(settings.webhook_origins)
        self._timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        self._limit = settings.webhook_concurrency
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, resolver=GuardedResolver(self._allowed)
            )
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> plans.Answer:
        refused = refused_literal(url, self._allowed)
        if refused is not None:
            return plans.Answer(None, f"url refused: {refused}")
        try:
            async with self._opened().post(
                url, data=body, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as response:
                detail = ""
                if not 200 <= response.status < 300:
                    excerpt = await response.content.read(ANSWER_EXCERPT)
                    detail = excerpt.decode("utf-8", "replace").strip()
                return plans.Answer(response.status, detail)
        except TimeoutError:
            return plans.Answer(None, "timed out")
        except aiohttp.ClientConnectorError as exc:  # the guard's refusal is its os_error
            return plans.Answer(None, f"cannot connect: {exc.os_error}"[:200])
        except (aiohttp.ClientError, OSError) as exc:
            return plans.Answer(None, f"{type(exc).__name__}: {exc}"[:200])


class WebhookDispatcher:
    """One process's share of the webhook work (see the module docstring)."""

    def __init__(self, sender: WebhookSender, settings: Settings) -> None:
        self._sender = sender
        self._settings = settings
        self._links = event_links(settings)
        self.owner = f"webhook-{uuid.uuid4().hex[:12]}"
        self._retries = plans.retry_policy(settings.webhook_retry_seconds)
        self._queue = LeasePolicy(
            timedelta(seconds=settings.webhook_timeout_seconds * 2 + LEASE_MARGIN_SECONDS),
            self._retries,
        )
        self._disable_after = timedelta(hours=settings.webhook_disable_after_hours)
        self._loop = PollingLoop(
            "webhook-dispatcher",
            self.work_once,
            settings.webhook_poll_seconds,
            logger=log,
            doing="delivering webhooks",
            traceback=True,
            level=logging.ERROR,
        )
        self._planned_through = -1
        self._last_prune = 0.0
        self._nothing_free_until = 0.0  # monotonic: every due delivery waits on another
        self._picked: list[str] = []  # free when the queue was read; each re-checked at claim

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Let the sends in hand finish (within their timeout), then cancel."""
        await self._loop.stop(grace=self._settings.webhook_timeout_seconds + 5)
        await self._sender.close()

    def wake(self) -> None:
        self._loop.wake()

    async def work_once(self) -> None:
        """Plan what is new, send everything due now, and now and then forget deliveries
        settled longer ago than the change log keeps history."""
        if await change_queries.newest_change_id() > self._planned_through:
            await self.plan()
        while not self._loop.stopping and await self.send_due():
            pass
        if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            kept_from = datetime.now(UTC) - timedelta(days=self._settings.change_log_retention_days)
            async with write_transaction():
                forgotten = await webhook_queries.forget_settled_deliveries(kept_from)
            if forgotten:
                log.info("forgot %d settled webhook deliveries", forgotten)

    async def plan(self) -> None:
        """Plan until the log is read through (or another instance holds the cursor). With
        no cursor no webhook was ever made: its first is planned from its creation on."""
        newest = await change_queries.newest_change_id()
        if await webhook_queries.plan_cursor() is None:
            self._planned_through = newest
            return
        while (read := await plan_deliveries(self._links, time.time())) is not None:
            if read:
                self._nothing_free_until = 0.0
                self._picked = []
            if read < PLAN_BATCH:
                self._planned_through = newest
                return

    async def send_due(self) -> bool:
        """Claim as many due deliveries as may be in flight, send them at once, settle them
        in one transaction. False when nothing was due."""
        now = datetime.now(UTC)
        if time.monotonic() < self._nothing_free_until:
            return False
        endpoint_ids = await webhook_queries.enabled_endpoint_ids()
        if not await webhook_queries.any_due_delivery(now, endpoint_ids):
            return False
        concurrency, soonest = self._settings.webhook_concurrency, None
        async with write_transaction():
            if not self._picked:
                queued = await webhook_queries.queued_deliveries(endpoint_ids)
                self._picked, soonest = plans.claimable(queued, now, concurrency * PICK_AHEAD)
            picked, self._picked = self._picked[:concurrency], self._picked[concurrency:]
            lease_until = self._queue.lease_until(now)
            claimed = await webhook_queries.claim_deliveries(picked, self.owner, now, lease_until)
        if not claimed and not self._picked:
            # Due deliveries wait behind ones retrying later: no need to read the queue again
            # before the soonest of those (or a new plan, or a little while).
            wait = (soonest - now).total_seconds() if soonest else WAIT_AT_MOST_SECONDS
            self._nothing_free_until = time.monotonic() + min(wait, WAIT_AT_MOST_SECONDS)
            return False
        endpoints = await webhook_queries.endpoints_by_id(
            sorted({str(d["endpoint_id"]) for d in claimed})
        )
        answers = await asyncio.gather(*[self._send(d, endpoints) for d in claimed])
        async with write_transaction():
            await self._record(claimed, answers, endpoints, datetime.now(UTC))
        return True

    async def _send(
        self, delivery: dict[str, Any], endpoints: dict[str, dict[str, Any]]
    ) -> plans.Answer:
        """One try; whatever goes wrong becomes an answer, so the batch is still settled."""
        endpoint = endpoints.get(str(delivery["endpoint_id"]))
        if endpoint is None:
            return plans.Answer(None, "webhook deleted")
        now = datetime.now(UTC)
        body = orjson.dumps(delivery["body"])
        headers = signed_headers(
            signing_secrets(endpoint, now), int(delivery["event_id"]), body, now
        )
        try:
            return await self._sender.send(endpoint["url"], headers, body)
        except Exception as exc:  # a library's surprise must not strand the batch
            log.exception("webhook delivery %s failed", delivery["id"])
            return plans.Answer(None, type(exc).__name__)

    async def _record(
        self,
        claimed: list[dict[str, Any]],
        answers: list[plans.Answer],
        endpoints: dict[str, dict[str, Any]],
        now: datetime,
    ) -> None:
        working: set[str] = set()
        failing: set[str] = set()
        for delivery, answer in zip(claimed, answers, strict=True):
            outcome = plans.settle(answer, int(delivery["attempts"]), now, self._retries)
            count_webhook_result(outcome.state)
            values: dict[Any, Any] = {
                "state": outcome.state,
                "last_status": answer.status,
                "last_error": outcome.error,
            }
            if outcome.failed_try:
                values["next_attempt_at"] = outcome.next_attempt_at
            else:
                values["delivered_at"] = now
            if not await webhook_queries.settle_delivery(str(delivery["id"]), self.owner, values):
                continue  # our lease lapsed and another sender took it: its try counts
            (failing if outcome.failed_try else working).add(str(delivery["endpoint_id"]))
        await webhook_queries.note_endpoints_working(sorted(working))
        for endpoint_id in sorted(failing - working):
            if endpoint_id not in endpoints:
                continue
            since = await webhook_queries.note_endpoint_failure(endpoint_id, now)
            if plans.disables(since, now, self._disable_after):
                await webhook_queries.disable_endpoint(endpoint_id, now)
                self._picked = []  # some may be its
                log.warning("webhook %s disabled: every try failed since %s", endpoint_id, since)


def run_webhook_sender(settings: Settings) -> None:
    """A sender process's whole life: deliver webhooks until SIGTERM or SIGINT."""
    run_in_background(lambda: _sending_webhooks(settings), NICENESS)


@asynccontextmanager
async def _sending_webhooks(settings: Settings) -> AsyncIterator[None]:
    dispatcher = WebhookDispatcher(WebhookSender(settings), settings)
    notified = settings.database_url if settings.is_postgres else None
    async with (
        engine_for(settings),
        woken_by_changes(notified, dispatcher.wake, "tinedy-webhook-sender"),
    ):
        dispatcher.start()
        log.info("delivering webhooks (%d at a time)", settings.webhook_concurrency)
        yield
        await dispatcher.stop()
