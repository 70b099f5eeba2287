"""Each worker's live-update hub: the change mirror hands it every new log row once, and it
fans the row out to this worker's open streams, in id order, to those concerned.

No query per connection: one query per batch of rows (the jobs' list fields), then a
comparison per stream. Each stream has a bounded queue; a stream that falls that far behind
is ended (its client resumes from its last id) rather than growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from server.changes.audience import people_of_row
from server.core.access import NO_BRANCH, Principal, Role
from server.core.metrics import LIVE_STREAMS
from server.live.events import (
    ALERT_KINDS,
    JOB_UNASSIGNED,
    SESSION_REVOKED,
    TEAM_UPDATE,
    USER_CHANGED,
    Event,
    event_name,
    is_event,
)

Summaries = Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]]
SHOWN, ID_ONLY, LEFT = "shown", "id-only", "left"  # how much of the job an event shows
log = logging.getLogger("tinedy.live")


class Subscriber:
    """One open stream: who it is for and the events waiting to be sent (None: it must end)."""

    def __init__(self, principal: Principal, limit: int) -> None:
        self.principal = principal
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(limit)
        self.ended: str | None = None

    def offer(self, event: Event) -> None:
        if self.ended is None:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.end("too_slow")

    def end(self, reason: str) -> None:
        """Make the stream stop after what it already took: drop what waits, then a None."""
        if self.ended is None:
            self.ended = reason
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class LiveHub:
    """``revoked`` tells whether a session is known to be signed out (the change mirror's
    view): a stream that subscribes after its revocation was fanned out ends at once."""

    def __init__(
        self,
        summaries: Summaries,
        queue_limit: int,
        revoked: Callable[[str], bool] = lambda device_id: False,
    ) -> None:
        self._summaries = summaries
        self._limit = queue_limit
        self._revoked = revoked
        self._subscribers: set[Subscriber] = set()
        # Who may hear what, so a row is checked against its possible audience only.
        self._by_user: dict[str, set[Subscriber]] = defaultdict(set)
        self._by_branch: dict[str, set[Subscriber]] = defaultdict(set)
        self._admins: set[Subscriber] = set()
        self.closing = False
        self.last_id = 0

    def subscribe(self, principal: Principal) -> Subscriber:
        """From now on the stream gets every event after :attr:`last_id` meant for it.

        Its session is checked after it is registered, with no await in between: the
        mirror learns of a revocation before it hands the row to :meth:`publish`, so either
        the check sees it or the row's fan-out finds this stream and ends it."""
        subscriber = Subscriber(principal, self._limit)
        self._subscribers.add(subscriber)
        self._index(subscriber).add(subscriber)
        LIVE_STREAMS.inc()
        if self.closing:
            subscriber.end("shutting_down")
        elif self._revoked(principal.device_id):
            subscriber.end("session_revoked")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            self._index(subscriber).discard(subscriber)
            LIVE_STREAMS.dec()

    def _index(self, subscriber: Subscriber) -> set[Subscriber]:
        audience = subscriber.principal.audience
        if audience.everything:
            return self._admins
        if audience.role is Role.DISPATCHER:
            return self._by_branch[audience.branch_filter or NO_BRANCH]
        return self._by_user[audience.user_id]

    async def publish(self, rows: list[dict[str, Any]]) -> None:
        """Fan new log rows (oldest first) out to the streams they concern."""
        if self._subscribers:
            for row, event_of in await self.events_of(rows):
                for subscriber in self._audience(row):
                    event = event_of(subscriber.principal)
                    if event is not None:
                        subscriber.offer(event)
                self._end_sessions(row)
        if rows:
            self.last_id = max(self.last_id, int(rows[-1]["id"]))

    def _audience(self, row: dict[str, Any]) -> set[Subscriber]:
        """The streams that might hear ``row``: :func:`event_name` decides exactly."""
        if not is_event(row):
            return set()
        audience = set(self._admins)
        if row["branch_id"] is not None:
            audience |= self._by_branch.get(str(row["branch_id"]), set())
        if row["kind"] == TEAM_UPDATE:
            team = (row.get("payload") or {}).get("teamId")
            for subscribers in self._by_user.values():
                audience |= {s for s in subscribers if s.principal.team_id == team}
            return audience
        for user_id in people_of_row(row):
            audience |= self._by_user.get(user_id, set())
        return audience

    async def events_of(
        self, rows: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], Callable[[Principal], Event | None]]]:
        """Each row with a function giving its event for a principal (None: not theirs);
        the row's data is encoded once, whoever hears it. A job's list fields come from
        the row (as they were then) or, for rows written without them, from the job now."""
        missing = sorted(
            {
                str(row["job_id"])
                for row in rows
                if row["job_id"] is not None and "job" not in (row.get("payload") or {})
            }
        )
        summaries: dict[str, dict[str, Any]] = {}
        if missing:
            try:
                summaries = await self._summaries(missing)
            except Exception:
                # The rows are already read: deliver them with ids only rather than lose
                # them (the client reads the job itself); the database is likely down.
                log.exception("reading the jobs of %d live events failed", len(missing))
        return [(row, _events_for(row, summaries)) for row in rows]

    def _end_sessions(self, row: dict[str, Any]) -> None:
        """A revoked session's streams end; so do those of a person whose role, branch or
        team changed (they reconnect and hear what the new audience hears)."""
        if row["kind"] == SESSION_REVOKED and row["device_id"] is not None:
            device = str(row["device_id"])
            self._end_where(lambda p: p.device_id == device, "session_revoked")
        elif row["kind"] == USER_CHANGED:
            user = str((row.get("payload") or {}).get("userId"))
            self._end_where(lambda p: p.user_id == user, "session_changed")

    def _end_where(self, whose: Callable[[Principal], bool], reason: str) -> None:
        for subscriber in list(self._subscribers):
            if whose(subscriber.principal):
                subscriber.end(reason)

    def end_all(self, reason: str) -> None:
        """End every stream, and any opened from now on (the worker is stopping)."""
        self.closing = True
        for subscriber in list(self._subscribers):
            subscriber.end(reason)


def _events_for(
    row: dict[str, Any], summaries: dict[str, dict[str, Any]]
) -> Callable[[Principal], Event | None]:
    """Who left the job hears only that it left them; a job shown as it is now (the row
    carries no list fields of its own) is shown only to those who may see it now."""
    change_id = int(row["id"])
    job = (row.get("payload") or {}).get("job")
    as_now = job is None and row["job_id"] is not None
    if as_now:
        job = summaries.get(str(row["job_id"]))
    priority = job["priority"] if job else None
    named: dict[tuple[str, str], Event] = {}

    def event(principal: Principal) -> Event | None:
        name = event_name(principal, row, priority)
        if name is None:
            return None
        shown = SHOWN
        if name == JOB_UNASSIGNED:
            shown = LEFT
        elif as_now and job is not None and not _sees_now(principal, job):
            shown = ID_ONLY
        if (name, shown) not in named:
            data = _data(row, job if shown == SHOWN else None, left=shown == LEFT)
            named[name, shown] = Event(change_id, name, orjson.dumps(data))
        return named[name, shown]

    return event


def _sees_now(principal: Principal, job: dict[str, Any]) -> bool:
    """Whether ``principal``, whom the row concerned, may see the job as it is now: the
    office of its branch may; staff only while on its crew (a replay from before they were
    taken off must not show the crew, place or state that came after)."""
    return principal.role is not Role.STAFF or principal.user_id in job.get("assigneeIds", ())


def _data(row: dict[str, Any], job: dict[str, Any] | None, *, left: bool = False) -> dict[str, Any]:
    payload = row.get("payload") or {}
    if row["kind"] == TEAM_UPDATE:
        return {key: payload.get(key) for key in ("teamId", "message", "sentBy", "sentAt")}
    if row["kind"] in ALERT_KINDS:
        return {"alert": payload.get("alert")}
    if left:
        return {"job": {"id": str(row["job_id"]), "removed": True}, "changed": []}
    data = {
        "job": job or {"id": str(row["job_id"])},
        "changed": sorted(payload.get("fields") or {}),
    }
    for about in ("photo", "problem", "remark"):
        if about in payload:
            data[about] = payload[about]
    return data
