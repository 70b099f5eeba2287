"""Which event a change-log row is, and for whom: plain functions, no I/O.

One row is one event id (the change-log id, the same number as the sync cursor); its name
may differ by audience: the new assignee hears ``job-assigned`` where the previous one hears
``job-unassigned``. Who hears what:

- staff: changes to the jobs whose crew they are in, the news that a job left them, and
  their team's updates;
- dispatchers: everything in their branch (jobs, team updates and alerts);
- admins: everything.

The data is small enough for a phone: the job's list fields (as the feed shows them), or
the team update itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from websockets.frames import Frame, Opcode

from server.changes.audience import left_of_row, people_of_row
from server.core.access import Principal, Role

TEAM_UPDATE = "team.update"
ALERT_RAISED = "alert.raised"  # for the office only
ALERT_ACKNOWLEDGED = "alert.acknowledged"
ALERT_KINDS = (ALERT_RAISED, ALERT_ACKNOWLEDGED)
SESSION_REVOKED = "session.revoked"
JOB_KINDS = "job."  # every change of a job is logged as job.<what>
USER_CHANGED = "user.changed"  # the person's streams end: they reopen under the new audience
JOB_ASSIGNED = "job-assigned"
JOB_UNASSIGNED = "job-unassigned"
PRIORITY_ALERT = "priority-alert"
RESET = "reset"  # the stream's: reload through the sync feed, then go on
CLOSING = "closing"  # the stream's: it ends, and says why
NAMES = {
    "job.created": "job-created",
    "job.assigned": "job-assigned",
    "job.status_changed": "status-updated",
    "job.cancelled": "job-cancelled",
    "job.rescheduled": "job-rescheduled",
    "job.reprioritised": "job-updated",
    "job.updated": "job-updated",
    "job.unassigned": "job-updated",  # its assignee was deactivated: back among jobs to assign
    "job.photo_added": "job-updated",
    "job.photo_processed": "photo-processed",
    "job.problem_reported": "job-on-hold",
    "job.remark_added": "job-updated",
    "job.reopened": "job-updated",
    "job.resumed": "job-updated",
    TEAM_UPDATE: "team-update",
    ALERT_RAISED: "alert",
    ALERT_ACKNOWLEDGED: "alert",
}
EVENT_NAMES = frozenset({*NAMES.values(), JOB_ASSIGNED, JOB_UNASSIGNED, PRIORITY_ALERT, RESET})
"""Every name an event can have on the wire (``closing`` is a notice, not an event); the app
redraws on each (rendered into it by server/pwa/vocabulary.py)."""


@dataclass(frozen=True)
class Event:
    """One event as sent: its id, its name for this audience, and its data as JSON bytes.
    One instance serves every stream that hears it, so its wire forms (an SSE frame, a chunk
    of one, a WebSocket message) are built once, whoever hears it."""

    id: int
    name: str
    data: bytes

    @cached_property
    def sse(self) -> bytes:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.id, self.name.encode(), self.data)

    @cached_property
    def json(self) -> str:
        return f'{{"event":"{self.name}","id":{self.id},"data":{self.data.decode()}}}'

    @cached_property
    def sse_chunk(self) -> bytes:
        """The SSE frame as one HTTP/1.1 chunk, as a stream writes it to its connection."""
        return b"%x\r\n%b\r\n" % (len(self.sse), self.sse)

    @cached_property
    def ws_message(self) -> bytes:
        """The JSON as one WebSocket text frame: a server's frames are unmasked and no
        extension is negotiated, so the bytes are the same for every connection."""
        return Frame(Opcode.TEXT, self.json.encode()).serialize(mask=False)


def event_name(principal: Principal, row: dict[str, Any], priority: str | None) -> str | None:
    """The name of the event ``row`` is for ``principal``, or None when it is not theirs.

    ``priority`` is the job's priority as the event shows it (None for rows that are not a
    job's).
    """
    if not _concerns(principal, row):
        return None
    if row["kind"] == TEAM_UPDATE or row["kind"] in ALERT_KINDS:
        return NAMES[row["kind"]]
    if principal.role is Role.STAFF and principal.user_id in left_of_row(row):
        return JOB_UNASSIGNED
    if _urgent_now(row, priority):
        return PRIORITY_ALERT
    if principal.role is Role.STAFF and row["kind"] == "job.created":
        return JOB_ASSIGNED  # created with them in its crew
    return NAMES.get(row["kind"], "job-updated")


def _concerns(principal: Principal, row: dict[str, Any]) -> bool:
    kind = row["kind"]
    if not is_event(row):
        return False
    audience = principal.audience
    if audience.role is not Role.STAFF:
        return audience.office_of(row["branch_id"])
    if kind == TEAM_UPDATE:
        return audience.hears_team((row.get("payload") or {}).get("teamId"))
    if kind in ALERT_KINDS:
        return False
    return audience.sees_job(row["branch_id"], tuple(people_of_row(row)))


def is_event(row: dict[str, Any]) -> bool:
    """Only a job's changes, team updates and alerts are events; other log rows (a session
    revoked, a person's placement changed, a password reset asked for) are facts for the
    server."""
    kind = str(row["kind"])
    return kind.startswith(JOB_KINDS) or kind == TEAM_UPDATE or kind in ALERT_KINDS


def _urgent_now(row: dict[str, Any], priority: str | None) -> bool:
    """Raised to urgent by this change, or created urgent."""
    fields = (row.get("payload") or {}).get("fields") or {}
    if fields.get("priority") == "urgent":
        return True
    return row["kind"] == "job.created" and priority == "urgent"
