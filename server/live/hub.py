"""Each worker's live-update hub: the change mirror hands it every new log row once, and it
fans the row out to this worker's open streams, in id order, to those concerned.

No query per connection: one query per batch of rows (the jobs' list fields). No work per
stream either, beyond handing it bytes: streams that would hear the same events (an
*audience*: the same person's, or the same branch's office, or every admin's) form a group,
a row's event is decided and encoded once per group, and every stream of the group gets the
same bytes object. A stream that is keeping up has a *sink*: the event's pre-encoded frame
is written straight to its connection, with no task woken. Otherwise (it is replaying, its
connection's buffer is not empty, or it has no sink) the event waits in the stream's own
bounded queue for its task; a stream that falls that far behind is ended (its client
resumes from its last id) rather than growing memory.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
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
Sink = Callable[[Event], bool]
"""Writes an event's frame straight to a stream's connection; False when it cannot now (its
buffer holds unsent bytes, or it is closing): the event then waits in the stream's queue."""
AudienceKey = tuple[str | None, ...]
TICK = 0.25  # seconds: heartbeats and token expiry are kept to within this
SHOWN, ID_ONLY, LEFT = "shown", "id-only", "left"  # how much of the job an event shows
log = logging.getLogger("tinedy.live")


def audience_key(principal: Principal) -> AudienceKey:
    """What decides every event a stream gets (:func:`~server.live.events.event_name` and
    :func:`_events_for` read nothing else of the principal): the office's events depend on
    its role and branch only; staff's on the person, their branch and their team."""
    audience = principal.audience
    if audience.everything:
        return (audience.role.value,)
    if audience.role is Role.DISPATCHER:
        return (audience.role.value, audience.branch_id)
    return (audience.role.value, audience.user_id, audience.branch_id, audience.team_id)


class Subscriber:
    """One open stream: who it is for, how far it got, and its events waiting to be sent."""

    __slots__ = (
        "_clock",
        "_limit",
        "_tick",
        "_waiter",
        "_waiting",
        "ended",
        "group",
        "principal",
        "sent",
        "sink",
    )

    def __init__(self, principal: Principal, limit: int, clock: Clock) -> None:
        self.principal = principal
        self.group: Group | None = None
        self.ended: str | None = None
        self.sent = 0  # the newest event id the client has (or had before it opened)
        self.sink: Sink | None = None
        self._limit = limit
        self._waiting: deque[Event] | None = None  # made when first needed: most never are
        self._waiter: asyncio.Future[bool] | None = None
        self._clock = clock
        self._tick = 0

    @property
    def waiting(self) -> int:
        """Events queued for the stream's task."""
        return len(self._waiting) if self._waiting else 0

    def offer(self, event: Event) -> None:
        if self.ended is not None or event.id <= self.sent:
            return
        if not self._waiting and self.sink is not None and self.sink(event):
            self.sent = event.id
            return
        if self._waiting is None:
            self._waiting = deque()
        if len(self._waiting) >= self._limit:
            self.end("too_slow")
            return
        self._waiting.append(event)
        self._wake()

    def take(self) -> Event | None:
        """The oldest waiting event, if any."""
        return self._waiting.popleft() if self._waiting else None

    def wait(self, seconds: float) -> asyncio.Future[bool]:
        """A future that is True once an event waits or the stream ends, False after
        ``seconds`` (to within :data:`TICK`): no coroutine, timeout or timer of its own is
        kept per idle stream, only a place on the hub's clock."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._waiting or self.ended is not None:
            waiter.set_result(True)
            return waiter
        self._waiter = waiter
        self._tick = self._clock.add(self, seconds)
        return waiter

    def time_up(self, tick: int) -> None:
        """The clock reached ``tick``: the wait ends, unless it is a later one."""
        waiter = self._waiter
        if waiter is not None and self._tick == tick:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(False)

    def stop_waiting(self) -> None:
        self._waiter = None

    def end(self, reason: str) -> None:
        """Make the stream stop after what it already took: what waits is dropped."""
        if self.ended is None:
            self.ended = reason
            self.sink = None
            self._waiting = None
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(True)


class Clock:
    """One timer for every idle stream's heartbeat and token expiry, in ticks of
    :data:`TICK`: a waiting stream costs a place in a list, not a timer of its own."""

    def __init__(self) -> None:
        self._due: dict[int, list[Subscriber]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._next: int | None = None

    def add(self, subscriber: Subscriber, seconds: float) -> int:
        """Wake ``subscriber`` ``seconds`` from now (rounded up to a tick); its tick."""
        loop = asyncio.get_running_loop()
        tick = math.ceil((loop.time() + seconds) / TICK)
        self._due.setdefault(tick, []).append(subscriber)
        if self._next is None or tick < self._next:
            self._schedule(loop, tick)
        return tick

    def _schedule(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._next = tick
        self._timer = loop.call_at(tick * TICK, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = self._next = None
        now = loop.time() + TICK / 2  # the loop may run a timer a little early
        for tick in sorted(t for t in self._due if t * TICK <= now):
            for subscriber in self._due.pop(tick):
                subscriber.time_up(tick)
        if self._due:
            self._schedule(loop, min(self._due))


class Group:
    """The streams of one audience: each of a row's events is worked out once for them."""

    __slots__ = ("key", "members", "principal")

    def __init__(self, key: AudienceKey, principal: Principal) -> None:
        self.key = key
        self.principal = principal  # any member's: they all hear the same
        self.members: set[Subscriber] = set()


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
        self._clock = Clock()
        self._groups: dict[AudienceKey, Group] = {}
        # Which groups may hear what, so a row is checked against its possible audience only.
        self._admins: set[Group] = set()
        self._by_branch: dict[str, set[Group]] = defaultdict(set)
        self._by_user: dict[str, set[Group]] = defaultdict(set)
        self._by_team: dict[str, set[Group]] = defaultdict(set)
        self.closing = False
        self.last_id = 0

    def subscribe(self, principal: Principal) -> Subscriber:
        """From now on the stream gets every event after :attr:`last_id` meant for it.

        Its session is checked after it is registered, with no await in between: the
        mirror learns of a revocation before it hands the row to :meth:`publish`, so either
        the check sees it or the row's fan-out finds this stream and ends it."""
        subscriber = Subscriber(principal, self._limit, self._clock)
        subscriber.sent = self.last_id
        self._subscribers.add(subscriber)
        group = self._group_of(principal)
        group.members.add(subscriber)
        subscriber.group = group
        LIVE_STREAMS.inc()
        if self.closing:
            subscriber.end("shutting_down")
        elif self._revoked(principal.device_id):
            subscriber.end("session_revoked")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.sink = None
        subscriber.stop_waiting()
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            group = subscriber.group
            if group is not None:
                group.members.discard(subscriber)
                if not group.members:
                    self._forget(group)
            LIVE_STREAMS.dec()

    @property
    def audiences(self) -> int:
        """How many groups the open streams form."""
        return len(self._groups)

    def _group_of(self, principal: Principal) -> Group:
        key = audience_key(principal)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, principal)
            for index in self._indexes(group):
                index.add(group)
        return group

    def _forget(self, group: Group) -> None:
        del self._groups[group.key]
        for index in self._indexes(group):
            index.discard(group)

    def _indexes(self, group: Group) -> Iterable[set[Group]]:
        audience = group.principal.audience
        if audience.everything:
            return (self._admins,)
        if audience.role is Role.DISPATCHER:
            return (self._by_branch[audience.branch_filter or NO_BRANCH],)
        teams = () if audience.team_id is None else (self._by_team[audience.team_id],)
        return (self._by_user[audience.user_id], *teams)

    async def publish(self, rows: list[dict[str, Any]]) -> None:
        """Fan new log rows (oldest first) out to the streams they concern."""
        if self._subscribers:
            for row, event_of in await self.events_of(rows):
                for group in self._audience(row):
                    event = event_of(group.principal)
                    if event is not None:
                        for subscriber in tuple(group.members):
                            subscriber.offer(event)
                self._end_sessions(row)
        if rows:
            self.last_id = max(self.last_id, int(rows[-1]["id"]))

    def _audience(self, row: dict[str, Any]) -> set[Group]:
        """The groups that might hear ``row``: :func:`event_name` decides exactly."""
        if not is_event(row):
            return set()
        audience = set(self._admins)
        if row["branch_id"] is not None:
            audience |= self._by_branch.get(str(row["branch_id"]), set())
        if row["kind"] == TEAM_UPDATE:
            team = (row.get("payload") or {}).get("teamId")
            return audience | self._by_team.get(str(team), set())
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
