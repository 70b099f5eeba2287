"""What deserves a push, and when: plain functions on change-log rows and preferences.

With the app closed a person needs to hear of four things: a job assigned to them (they
joined its crew, or it was taken away), their job cancelled, their job rescheduled, and a job
of theirs becoming urgent; each goes to every member of the crew it concerns. A change they
made themselves is not pushed back to them.

Quiet hours hold a push until they end; urgent work rings through them (a dispatcher marks a
job urgent exactly when it cannot wait). Opting out of a kind stops that kind; urgent pushes
and dispatchers' own messages cannot be opted out of, only held by quiet hours (a message
sent with urgency ``high`` rings through those too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from server.changes.audience import crew_of_row, left_of_row
from server.core.clock import BANGKOK

ASSIGNED, REASSIGNED, CANCELLED = "assigned", "reassigned", "cancelled"
RESCHEDULED, URGENT, MESSAGE = "rescheduled", "urgent", "message"
OPTIONAL_KINDS = (ASSIGNED, REASSIGNED, CANCELLED, RESCHEDULED)
URGENCIES = ("very-low", "low", "normal", "high")
FINISHED = ("completed", "cancelled")  # nothing more to do: only a cancellation is news
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

TITLES: dict[str, dict[str, str]] = {
    ASSIGNED: {"th": "งานใหม่", "en": "New job"},
    REASSIGNED: {"th": "งานถูกย้ายให้คนอื่น", "en": "Job moved to someone else"},
    CANCELLED: {"th": "ยกเลิกงาน", "en": "Job cancelled"},
    RESCHEDULED: {"th": "เลื่อนเวลางาน", "en": "Job rescheduled"},
    URGENT: {"th": "งานด่วน", "en": "Urgent job"},
}


@dataclass(frozen=True)
class JobPush:
    """One push a job change calls for."""

    kind: str
    user_id: str
    job_id: str
    change_id: int
    urgent: bool


def job_pushes(change: dict[str, Any], job: dict[str, Any] | None) -> list[JobPush]:
    """The pushes one change-log row calls for, given the job as it is now."""
    if job is None or not change.get("job_id"):
        return []
    kind = str(change["kind"])
    payload = change.get("payload") or {}
    fields = set(payload.get("fields") or [])
    crew = crew_of_row(change)
    joined = [_id(u) for u in payload.get("joined", crew)] if kind == "job.assigned" else crew
    actor = _id(change.get("actor_id"))
    urgent = job.get("priority") == "urgent"
    wanted: list[tuple[str, str | None]] = []
    if kind in ("job.created", "job.assigned"):
        wanted += [(URGENT if urgent else ASSIGNED, who) for who in joined]
        wanted += [(REASSIGNED, who) for who in left_of_row(change)]
    elif kind == "job.cancelled" or ("status" in fields and job.get("status") == "cancelled"):
        wanted += [(CANCELLED, who) for who in crew]
    elif kind == "job.rescheduled" or "scheduled_at" in fields:
        wanted += [(RESCHEDULED, who) for who in crew]
    elif (kind == "job.reprioritised" or "priority" in fields) and urgent:
        wanted += [(URGENT, who) for who in crew]
    if job.get("status") in FINISHED:
        wanted = [(what, who) for what, who in wanted if what == CANCELLED]
    return [
        JobPush(what, who, str(change["job_id"]), int(change["id"]), urgent)
        for what, who in wanted
        if who is not None and who != actor
    ]


def job_texts(kind: str, job: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Title and body in Thai and English: short, the customer and the time."""
    when = job["scheduled_at"].astimezone(BANGKOK).strftime("%d/%m %H:%M")
    line = f"{job.get('customer_name') or ''} · {when}".strip(" ·")
    return TITLES[kind], {"th": line, "en": line}


def job_topic(job_id: str) -> str:
    """A newer push about the same job replaces one still waiting at the push service."""
    return job_id.replace("-", "")[:32]


def opted_out(preference: dict[str, Any] | None, kind: str) -> bool:
    return kind in OPTIONAL_KINDS and kind in ((preference or {}).get("opted_out") or [])


def held_until(preference: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the person's quiet hours (Bangkok time, possibly spanning midnight) end, if
    ``now`` falls inside them; else None."""
    if not preference or not preference.get("quiet_from") or not preference.get("quiet_until"):
        return None
    start, end = _clock(preference["quiet_from"]), _clock(preference["quiet_until"])
    local = now.astimezone(BANGKOK)
    today_end = datetime.combine(local.date(), end, BANGKOK)
    moment = local.time()
    if start <= end:
        inside = start <= moment < end
        ends = today_end
    else:
        inside = moment >= start or moment < end
        ends = today_end if moment < end else today_end + timedelta(days=1)
    return ends if inside else None


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _id(value: Any) -> str | None:
    return None if value is None else str(value)
