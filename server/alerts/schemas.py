"""What the office asks of its alerts, and what it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from server.core.schemas import ApiModel

AlertKind = Literal[
    "late_start", "offsite_checkin", "incomplete_completion", "issue_reported", "sync_rejected"
]
MAX_ALERTS = 500


class AlertsParams(ApiModel):
    state: Literal["open", "all"] = Field("open", description="open: not yet acknowledged.")
    limit: int = Field(100, ge=1, le=MAX_ALERTS)


class AlertOut(ApiModel):
    id: str
    kind: AlertKind
    job_id: str | None
    raised_at: datetime
    detail: dict[str, Any] = Field(
        description="By kind: late_start {scheduledAt, minutesLate, assigneeIds}; "
        "offsite_checkin {distanceMeters, userId, type, locationMissing}; "
        "incomplete_completion {untickedItems, afterPhotos}; issue_reported {reason, note, "
        "reportedBy, problemId}; sync_rejected {userId, deviceId, mutationId, kind, code, "
        "message}."
    )
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    urgent: bool


class AlertList(ApiModel):
    alerts: list[AlertOut]


class AlertAnswer(ApiModel):
    alert: AlertOut
