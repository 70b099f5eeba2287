"""Response shapes of offline sync: answers, conflicts, receipts, the changes feed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.schemas import ApiModel, Location
from server.jobs.schemas import ChecklistItemOut, JobFull, JobSummary

MutationKind = Literal["update", "checkin", "photo", "issue", "remark"]
"""What a sync batch carries (its ``pendingUpdates``, ``checkIns``, ``photos``, ``issues``
and ``remarks``)."""


class JobState(JobFull):
    """A job as offline sync sends it: enough to work on it with no signal."""

    checklist_items: list[ChecklistItemOut]
    location: Location


class JobLeft(ApiModel):
    """A job taken from the caller: its id, and nothing else of it."""

    id: str
    removed: Literal[True]


class SyncConflict(ApiModel):
    mutation_id: str
    job_id: str
    reason: Literal[
        "job_cancelled",
        "job_completed",
        "job_reassigned",
        "status_changed",
        "notes_changed",
        "checklist_item_changed",
    ]
    resolution: Literal["server_state_kept"]
    job: JobState | JobSummary | JobLeft = Field(
        description="The job now; for job_reassigned only that it left you (it is not yours)."
    )


class SyncFailure(ApiModel):
    mutation_id: str
    code: str
    message: str


class SyncAnswer(ApiModel):
    synced: list[str]
    conflicts: list[SyncConflict]
    failed: list[SyncFailure]
    cursor: int


class SyncChangesParams(ApiModel):
    since: int = Field(0, ge=0, description="A change id from an earlier answer; 0: everything.")
    limit: int = Field(100, ge=1, le=500)


class SyncChanges(ApiModel):
    changes: list[JobState]
    removed: list[str]
    cursor: int
    has_more: bool
    reset: bool


class ReceiptsParams(ApiModel):
    since: int = Field(0, ge=0, description="A receipt cursor from an earlier answer.")
    limit: int = Field(200, ge=1, le=1000)


class Receipt(ApiModel):
    mutation_id: str
    kind: MutationKind
    job_id: str | None
    outcome: Literal["applied", "merged", "superseded", "rejected"]
    code: str | None
    reason: str
    change_id: int | None
    client_time: datetime | None
    received_at: datetime


class ReceiptsPage(ApiModel):
    receipts: list[Receipt]
    cursor: int
    has_more: bool


class MutationSeen(ApiModel):
    mutation_id: str
    job_id: str | None
    outcome: str
    code: str | None
    received_at: datetime
