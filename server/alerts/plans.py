"""What the office is alerted to: plain functions on change-log rows and jobs.

- ``issue_reported``: staff reported a problem at a job (``job.problem_reported``); urgent
  when the place is unsafe.
- ``offsite_checkin``: a check-in or check-out away from the job (outside its geofence), or
  without any place (the phone gave none).
- ``incomplete_completion``: a job completed with checklist items still unticked, or without
  a photo of kind ``after``, as it stood when it was completed.
- ``sync_rejected``: a phone's offline change was refused for good (``sync.rejected``).
- ``late_start``: an assigned job nobody has set out for ``LATE_START_MINUTES`` after its
  start (found by a scan, not by a change); urgent when the job is.

Each alert has a ``dedup_key`` naming what it is about (the problem, the check-in, the
completion, the refused change, the job at its scheduled time): raising the same alert again,
from another instance or a repeated plan, is no alert at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from server.core.clock import BANGKOK, local_time

LATE_START, OFFSITE_CHECKIN = "late_start", "offsite_checkin"
INCOMPLETE_COMPLETION, ISSUE_REPORTED = "incomplete_completion", "issue_reported"
SYNC_REJECTED = "sync_rejected"
KINDS = (LATE_START, OFFSITE_CHECKIN, INCOMPLETE_COMPLETION, ISSUE_REPORTED, SYNC_REJECTED)

ALERT_RAISED = "alert.raised"
ALERT_ACKNOWLEDGED = "alert.acknowledged"  # a dispatcher saw it: boards redraw
PROBLEM_REPORTED, CHECKIN_RECORDED = "job.problem_reported", "checkin.recorded"
STATUS_CHANGED, REJECTED = "job.status_changed", "sync.rejected"
WATCHED = frozenset({PROBLEM_REPORTED, CHECKIN_RECORDED, STATUS_CHANGED, REJECTED})
"""The change-log kinds that may raise an alert: a worker wakes its planner on these."""

LATE_START_WINDOW = timedelta(days=1)
"""How far back the late-start scan looks: older jobs are yesterday's business."""

TITLES: dict[str, dict[str, str]] = {
    LATE_START: {"th": "งานยังไม่เริ่ม", "en": "Late start"},
    OFFSITE_CHECKIN: {"th": "เช็กอินนอกสถานที่", "en": "Check-in away from the job"},
    INCOMPLETE_COMPLETION: {"th": "ปิดงานไม่ครบ", "en": "Completed with gaps"},
    ISSUE_REPORTED: {"th": "พนักงานแจ้งปัญหา", "en": "Problem reported"},
    SYNC_REJECTED: {"th": "การซิงก์ถูกปฏิเสธ", "en": "A change was refused"},
}


@dataclass(frozen=True)
class NewAlert:
    """An alert some change or scan calls for, before it is known to be new."""

    kind: str
    branch_id: str
    job_id: str | None
    dedup_key: str
    detail: dict[str, Any] = field(default_factory=dict)
    urgent: bool = False


@dataclass(frozen=True)
class JobAtCompletion:
    """What a completion is judged by: the job's checklist items (``label``, ``done``,
    ``done_at``) and photos (``kind``, ``status``, ``created_at``)."""

    items: list[dict[str, Any]]
    photos: list[dict[str, Any]]


def watched(row: dict[str, Any]) -> bool:
    return row.get("kind") in WATCHED


def is_completion(row: dict[str, Any]) -> bool:
    fields = _payload(row).get("fields") or {}
    return row.get("kind") == STATUS_CHANGED and fields.get("status") == "completed"


def alert_for(row: dict[str, Any], completion: JobAtCompletion | None) -> NewAlert | None:
    """The alert one change-log row calls for, if any (``completion``: the job's checklist
    and photos, for a completion)."""
    if not row.get("branch_id"):
        return None
    kind = row.get("kind")
    if kind == PROBLEM_REPORTED:
        return issue_reported(row)
    if kind == CHECKIN_RECORDED:
        return offsite_checkin(row)
    if kind == REJECTED:
        return sync_rejected(row)
    if completion is not None and is_completion(row):
        return incomplete_completion(row, completion)
    return None


def issue_reported(row: dict[str, Any]) -> NewAlert | None:
    problem = _payload(row).get("problem") or {}
    if not problem.get("id"):
        return None
    return NewAlert(
        ISSUE_REPORTED,
        str(row["branch_id"]),
        _id(row.get("job_id")),
        f"{ISSUE_REPORTED}:{problem['id']}",
        {
            "reason": problem.get("reason"),
            "note": problem.get("note") or "",
            "reportedBy": _id(problem.get("reportedBy") or row.get("actor_id")),
            "problemId": str(problem["id"]),
        },
        urgent=problem.get("reason") == "unsafe",
    )


def offsite_checkin(row: dict[str, Any]) -> NewAlert | None:
    """A check-in outside the geofence, or without a place; one at a job with no place of
    its own to measure against (``withinGeofence`` null) is not known to be away."""
    payload = _payload(row)
    missing = bool(payload.get("locationMissing"))
    if not payload.get("checkInId") or (not missing and payload.get("withinGeofence") is not False):
        return None
    return NewAlert(
        OFFSITE_CHECKIN,
        str(row["branch_id"]),
        _id(row.get("job_id")),
        f"{OFFSITE_CHECKIN}:{payload['checkInId']}",
        {
            "distanceMeters": payload.get("distanceMeters"),
            "userId": _id(row.get("actor_id")),
            "type": payload.get("type"),
            "locationMissing": missing,
        },
    )


def incomplete_completion(row: dict[str, Any], job: JobAtCompletion) -> NewAlert | None:
    """A completion with items unticked or no ``after`` photo (one not failed) at the moment
    it was logged: what was added later does not change the verdict."""
    at = row["occurred_at"]
    unticked = [str(item["label"]) for item in job.items if not _ticked_by(item, at)]
    after = sum(
        1
        for photo in job.photos
        if photo["kind"] == "after"
        and photo["status"] != "failed"
        and _not_after(photo["created_at"], at)
    )
    if not unticked and after:
        return None
    return NewAlert(
        INCOMPLETE_COMPLETION,
        str(row["branch_id"]),
        _id(row.get("job_id")),
        f"{INCOMPLETE_COMPLETION}:{row['job_id']}:{row['id']}",
        {"untickedItems": unticked, "afterPhotos": after},
    )


def sync_rejected(row: dict[str, Any]) -> NewAlert | None:
    """One alert per person, job and reason a day: a phone replaying a day of refused work,
    or one sending the same refusal in a loop, is one thing for the office to look at (the
    detail names the first mutation; the receipts hold them all)."""
    payload = _payload(row)
    user_id, mutation_id = payload.get("userId"), payload.get("mutationId")
    if not user_id or not mutation_id:
        return None
    day = _utc(row["occurred_at"]).astimezone(BANGKOK).date().isoformat()
    job_id = _id(payload.get("jobId"))
    return NewAlert(
        SYNC_REJECTED,
        str(row["branch_id"]),
        job_id,
        f"{SYNC_REJECTED}:{user_id}:{job_id or '-'}:{payload.get('code')}:{day}",
        {
            "userId": str(user_id),
            "deviceId": payload.get("deviceId"),
            "mutationId": str(mutation_id),
            "kind": payload.get("kind"),
            "code": payload.get("code"),
            "message": payload.get("message"),
        },
    )


def late_start(job: dict[str, Any], now: datetime) -> NewAlert:
    """An assigned job past its start plus the grace (the scan finds those): the key names
    the scheduled time, so a rescheduled job can be late again."""
    scheduled = _utc(job["scheduled_at"])
    crew = [member for member in str(job.get("crew") or "").split() if member]
    return NewAlert(
        LATE_START,
        str(job["branch"]),
        str(job["id"]),
        f"{LATE_START}:{job['id']}:{scheduled.isoformat()}",
        {
            "scheduledAt": local_time(scheduled),
            "minutesLate": int((now - scheduled).total_seconds() // 60),
            "assigneeIds": crew or ([str(job["assignee"])] if job.get("assignee") else []),
        },
        urgent=job.get("priority") == "urgent",
    )


def push_texts(
    alert: NewAlert, job: dict[str, Any] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Title and body in Thai and English: the kind, then the customer and the job's time."""
    if job is None:
        line = str(alert.detail.get("message") or "")
    else:
        when = _utc(job["scheduled_at"]).astimezone(BANGKOK).strftime("%d/%m %H:%M")
        line = f"{job.get('customer_name') or ''} · {when}".strip(" ·")
    return TITLES[alert.kind], {"th": line, "en": line}


def _ticked_by(item: dict[str, Any], at: datetime) -> bool:
    return bool(item["done"]) and (item["done_at"] is None or _not_after(item["done_at"], at))


def _not_after(value: datetime | None, at: datetime) -> bool:
    return value is None or _utc(value) <= _utc(at)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    payload = row.get("payload")
    return payload if isinstance(payload, dict) else {}


def _id(value: Any) -> str | None:
    return None if value is None else str(value)
