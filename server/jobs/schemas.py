"""Request and response shapes of the job feed and the job detail."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from server.core.clock import BANGKOK
from server.core.inputs import Priority, Text, in_range
from server.core.schemas import MAX_PAGE, ApiModel, JobStatus, Location, ProblemReason

MAX_CREW = 8
"""The most people a job's crew may have."""


class FeedParams(ApiModel):
    """Query string of ``GET /api/mobile/jobs``; ``status`` may repeat."""

    status: list[JobStatus] = Field(default_factory=list)
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    assignee_id: UUID | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: Text | None = Field(None, min_length=1, max_length=2048)

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _day_or_instant(cls, value: object) -> object:
        """RFC 3339 with an offset, or a bare date meaning midnight in Bangkok."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("give an RFC 3339 time or a date")
        try:
            if len(value) == 10:
                return datetime.combine(date.fromisoformat(value), time(), BANGKOK)
            instant = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("give an RFC 3339 time, e.g. 2026-11-24T09:30:00+07:00") from exc
        if instant.tzinfo is None:
            raise ValueError("give a time with an offset, e.g. 2026-11-24T09:30:00+07:00")
        return instant

    @field_validator("from_", "to")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return None if value is None else in_range(value)


class JobSummary(ApiModel):
    id: str
    customer_name: str
    service_type: str
    status: JobStatus
    address: str
    scheduled_date: datetime
    assignee_id: str | None = Field(description="The crew's lead.")
    assignee_ids: list[str] = Field(description="The crew, lead first.")
    priority: Priority
    version: int
    updated_at: datetime


class JobsPage(ApiModel):
    jobs: list[JobSummary]
    total: int
    has_more: bool
    next_cursor: str | None


class JobFull(JobSummary):
    notes: str
    duration_minutes: int
    customer_id: str
    branch_id: str
    created_at: datetime
    own_address: bool = Field(description="The job's address is its own, not its customer's.")


class CustomerContact(ApiModel):
    name: str
    phone: str
    line_id: str


class ChecklistItemOut(ApiModel):
    id: str
    label: str
    done: bool
    done_at: datetime | None


class PhotoVariantOut(ApiModel):
    name: Literal["thumb", "display"]
    media_type: str
    width: int
    height: int
    url: str


class PhotoEvidenceOut(ApiModel):
    location: Location | None
    distance_meters: float | None
    flags: list[
        Literal["far_from_job", "outside_visit", "no_check_in", "no_location", "no_capture_time"]
    ]


class PhotoProblemOut(ApiModel):
    code: Literal[
        "photo_corrupt",
        "photo_too_many_pixels",
        "photo_type_mismatch",
        "unsupported_photo_type",
        "payload_too_large",
    ]
    detail: str


class PhotoOut(ApiModel):
    """URLs are signed and expire (at least ``PHOTO_URL_SECONDS``); null until processed.
    ``rejected``: processing found the image bad (``problem`` says why); ``failed``: it could
    not be processed for another reason (``error``, office roles)."""

    id: str
    kind: Literal["before", "after", "other"]
    status: Literal["queued", "processing", "ready", "failed", "rejected"]
    thumbnail_url: str | None
    url: str | None
    taken_at: datetime | None
    width: int | None
    height: int | None
    variants: list[PhotoVariantOut]
    uploaded_by: str | None = Field(None, description="Dispatchers and admins only.")
    original_url: str | None = Field(None, description="Dispatchers and admins only.")
    evidence: PhotoEvidenceOut | None = Field(None, description="Dispatchers and admins only.")
    error: str | None = Field(None, description="Why processing failed (office roles).")
    problem: PhotoProblemOut | None = Field(
        None, description="Why processing rejected the photo (everyone); null otherwise."
    )


class CrewMember(ApiModel):
    id: str
    name: str
    phone: str


class RemarkOut(ApiModel):
    id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime


class ProblemOut(ApiModel):
    id: str
    reason: ProblemReason
    note: str
    reported_by: str
    reported_by_name: str
    reported_at: datetime
    photo_id: str | None


class JobDetail(ApiModel):
    job: JobFull
    customer_contact: CustomerContact
    checklist_items: list[ChecklistItemOut]
    photos: list[PhotoOut]
    location: Location
    crew: list[CrewMember] = Field(description="Who works the job, lead first.")
    remarks: list[RemarkOut] = Field(description="The field's remarks, oldest first.")
    problems: list[ProblemOut] = Field(description="Problems the field reported, oldest first.")


class ProblemAnswer(ApiModel):
    """The job after a problem was reported on it (on hold)."""

    job: JobFull
