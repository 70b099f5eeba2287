"""Recording changes, and each worker's mirror of what the change log says.

Every write appends to the change log in its own transaction (:func:`record_changes`,
:func:`record_session_revoked`). Each worker keeps a :class:`ChangeMirror` that reads new log
rows every ``CHANGE_POLL_SECONDS`` (and at once after its own writes). From it the hot path
learns, without touching the database, the feed version of any scope and which sessions were
revoked, and whose role, branch or team changed since their token was issued (so such a
change holds from the next request, not the next refresh). The mirror works the same on
SQLite and PostgreSQL, and across processes and hosts, because the log itself is the channel.
It reads up to the log's head, which it first moves as far as it may (server/changes/publish.py):
so the rows of a writer that died between its commit and publishing them still appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.changes import queries as change_queries
from server.changes.audience import members_of_row
from server.changes.publish import publish_own, publish_visible, versions_of
from server.core.background import PollingLoop
from server.core.writes import note_changes_written

log = logging.getLogger("tinedy.changes")

BATCH = 1000
OUTAGE_POLL_SECONDS = 1.0
SESSION_REVOKED = "session.revoked"
USER_CHANGED = "user.changed"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a person stands now: what replaces their token's role, branch and team."""

    role: str
    branch_id: str | None
    team_id: str | None


def job_change_row(
    kind: str,
    job: dict[str, Any],
    *,
    previous_assignee_id: str | None = None,
    actor_id: str | None = None,
    device_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A log row for a change to ``job`` (as it is after the change); its payload names the
    crew and those who left it (see server/changes/audience.py)."""
    return {
        "kind": kind,
        "job_id": job["id"],
        "branch_id": job["branch"],
        "assignee_id": job.get("assignee"),
        "previous_assignee_id": previous_assignee_id,
        "actor_id": actor_id,
        "device_id": device_id,
        "payload": payload or {},
    }


async def record_changes(rows: list[dict[str, Any]]) -> list[int]:
    """Inside a write transaction: log ``rows``; returns the change ids given to ``rows``, in
    order. Readers see them, and the versions of everyone concerned rise, once they are
    published (server/changes/publish.py): before this call returns on SQLite, right after
    the commit on PostgreSQL."""
    note_changes_written()
    members = [members_of_row(row) if row.get("job_id") else [] for row in rows]
    ids = await change_queries.append_changes(rows, members)
    await publish_own(ids[-1])
    return ids


async def record_session_revoked(device_id: str, user_id: str, reason: str) -> list[int]:
    row = {
        "kind": SESSION_REVOKED,
        "device_id": device_id,
        "actor_id": user_id,
        "payload": {"reason": reason},
    }
    return await record_unscoped([row])


async def record_user_changed(user_id: str, placement: Placement) -> list[int]:
    """Inside a write transaction: a person's role, branch or team changed; every worker's
    mirror applies it to their tokens from the next request."""
    row = {
        "kind": USER_CHANGED,
        "actor_id": user_id,
        "payload": {
            "userId": user_id,
            "role": placement.role,
            "branchId": placement.branch_id,
            "teamId": placement.team_id,
        },
    }
    return await record_unscoped([row])


async def record_team_update(
    team_id: str, branch_id: str, actor_id: str, message: str, sent_at: str
) -> int:
    """Inside a write transaction: log a message to a team; no feed changes, so no scopes."""
    row = {
        "kind": "team.update",
        "branch_id": branch_id,
        "actor_id": actor_id,
        "payload": {"teamId": team_id, "message": message, "sentBy": actor_id, "sentAt": sent_at},
    }
    return (await record_unscoped([row]))[0]


async def record_unscoped(rows: list[dict[str, Any]]) -> list[int]:
    """Inside a write transaction: facts no feed shows (so no scope's version moves), read at
    once by this worker."""
    note_changes_written()
    ids = await change_queries.append_changes(rows)
    await publish_own(ids[-1])
    return ids


class ChangeMirror:
    """This worker's view of the change log: feed versions, revoked sessions and people's
    current placements (kept as long as a token issued before them may live)."""

    def __init__(self, revocation_horizon: timedelta) -> None:
        self._versions: dict[str, int] = {}
        self._revoked: dict[str, float] = {}
        self._placements: dict[str, tuple[Placement, float]] = {}
        self._horizon = revocation_horizon
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._deliveries: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self._listeners: list[Callable[[list[dict[str, Any]]], Awaitable[None]]] = []
        self._follower: PollingLoop | None = None
        self.last_id = 0
        self.caught_up_at = time.monotonic()  # the last read that reached the log's end

    async def load(self) -> None:
        """Start from the database: the head first, so nothing after it is missed."""
        self.last_id = await publish_visible()
        self._versions = await change_queries.all_feed_versions()
        since = datetime.now(UTC) - self._horizon
        now = time.monotonic()
        self._revoked = {d: now for d in await change_queries.device_ids_revoked_since(since)}
        self._placements = {}
        for row in await change_queries.placement_changes_since(since):
            self._apply_placement(row)

    def add_listener(self, listener: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> None:
        """``listener`` gets every batch of new rows, oldest first, once, in order."""
        self._listeners.append(listener)

    def version_of(self, scope: str) -> int:
        return self._versions.get(scope, 0)

    def is_revoked(self, device_id: str) -> bool:
        return device_id in self._revoked

    def placement_of(self, user_id: str) -> Placement | None:
        """The person's placement if it changed within the horizon, else None (their token
        says it right)."""
        found = self._placements.get(user_id)
        return None if found is None else found[0]

    async def catch_up(self) -> None:
        """Read and apply every log row after ``last_id``; one reader at a time. The rows go
        to the listeners in order through :meth:`_deliver`, so a writer waits for the read,
        not for a fan-out to thousands of streams.

        Shielded: a request that catches up after its own write may be cancelled (its client
        hung up), but rows once read are always queued for the listeners.
        """
        reading = asyncio.ensure_future(self._catch_up())
        reading.add_done_callback(_consume_outcome)  # its caller may be gone
        await asyncio.shield(reading)

    async def _catch_up(self) -> None:
        async with self._lock:
            head = await publish_visible()
            while True:
                rows = await change_queries.changes_after(self.last_id, BATCH, head)
                for row in rows:
                    self._apply(row)
                if rows and self._listeners:
                    self._deliveries.put_nowait(rows)
                if len(rows) < BATCH:
                    break
            self.caught_up_at = time.monotonic()
            self._forget_old_revocations()

    async def _deliver(self) -> None:
        """Hand each batch of rows to every listener, in the order they were read."""
        while True:
            rows = await self._deliveries.get()
            for listener in self._listeners:
                try:
                    await listener(rows)
                except Exception:
                    log.exception("a change-log listener failed on %d rows", len(rows))

    def start(self, poll_seconds: float) -> None:
        """Follow the log in the background for the life of the worker: read it every
        ``poll_seconds``, or at once when woken. While reads fail (the database is down), wait
        longer between tries, up to OUTAGE_POLL_SECONDS, and say so once per outage."""
        self._follower = PollingLoop(
            "change-mirror",
            self.catch_up,
            poll_seconds,
            longest=OUTAGE_POLL_SECONDS,
            logger=log,
            doing="reading the change log",
            recovered=lambda: f"reading the change log again, up to change {self.last_id}",
        )
        self._follower.start()
        self._tasks = [asyncio.create_task(self._deliver(), name="change-delivery")]

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        """Read the log now rather than at the next poll (a NOTIFY arrived)."""
        if self._follower is not None:
            self._follower.wake()

    def _apply(self, row: dict[str, Any]) -> None:
        change_id = int(row["id"])
        self.last_id = max(self.last_id, change_id)
        if row["kind"] == SESSION_REVOKED and row.get("device_id"):
            self._revoked[str(row["device_id"])] = time.monotonic()
            return
        if row["kind"] == USER_CHANGED:
            self._apply_placement(row)
            return
        if row["kind"] in change_queries.FACT_KINDS or row.get("job_id") is None:
            return  # no feed shows it (a fact, a team update, an alert): no version moves
        for scope, version in versions_of([row]).items():
            self._versions[scope] = max(self._versions.get(scope, 0), version)

    def _apply_placement(self, row: dict[str, Any]) -> None:
        """Rows come oldest first: the last one seen for a person is their placement now."""
        payload = row.get("payload") or {}
        user_id = payload.get("userId")
        if user_id:
            placement = Placement(payload["role"], payload.get("branchId"), payload.get("teamId"))
            self._placements[str(user_id)] = (placement, time.monotonic())

    def _forget_old_revocations(self) -> None:
        """An access token outlives its session (or a change of its holder's placement) by
        at most the horizon; forget older ones."""
        oldest = time.monotonic() - self._horizon.total_seconds()
        if any(at < oldest for at in self._revoked.values()):
            self._revoked = {d: at for d, at in self._revoked.items() if at >= oldest}
        if any(at < oldest for _, at in self._placements.values()):
            self._placements = {u: p for u, p in self._placements.items() if p[1] >= oldest}


def _consume_outcome(task: asyncio.Future[None]) -> None:
    """Mark a shielded read's failure as seen: whoever awaited it got it, or hung up."""
    if not task.cancelled():
        task.exception()
