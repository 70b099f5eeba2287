"""Request and response shapes of the public API (camelCase on the wire).

Requests are validated through these models, or through the domain's own input models (a
sync batch in ``services/mutations.py``, dispatch writes in ``services/dispatch.py``), all
built on the primitive types of ``services/inputs.py``. Responses are written as plain
dicts for speed,
and the API tests validate real responses against these models, so the OpenAPI document
(generated from them) cannot drift from what the server sends.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from server.services.inputs import Priority, Text, in_range
from server.services.jobs import BANGKOK

JobStatus = Literal["pending", "assigned", "en_route", "in_progress", "completed", "cancelled"]
Role = Literal["staff", "dispatcher", "admin"]
MAX_PAGE = 200


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DeviceIn(ApiModel):
    """The phone or browser signing in; its ``id`` is the client's own stable identifier."""

    id: Text = Field(default_factory=lambda: f"anonymous-{uuid4()}", min_length=1, max_length=128)
    name: Text = Field("", max_length=120)
    platform: Text = Field("", max_length=40)


class LoginRequest(ApiModel):
    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: Text = Field(min_length=1, max_length=1024)
    device: DeviceIn = Field(default_factory=DeviceIn)


class RefreshRequest(ApiModel):
    refresh_token: Text | None = Field(None, min_length=1, max_length=4096)


class UserOut(ApiModel):
    id: str
    name: str
    role: Role
    team_id: str | None
    locale: Literal["th", "en"]


class LoginResponse(ApiModel):
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserOut


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
    assignee_id: str | None
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


class CustomerContact(ApiModel):
    name: str
    phone: str
    line_id: str


class ChecklistItemOut(ApiModel):
    id: str
    label: str
    done: bool
    done_at: datetime | None


class Location(ApiModel):
    lat: float | None
    lng: float | None


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


class PhotoOut(ApiModel):
    """URLs are signed and expire (at least ``PHOTO_URL_SECONDS``); null until processed."""

    id: str
    kind: Literal["before", "after", "other"]
    status: Literal["queued", "processing", "ready", "failed"]
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


class VapidPublicKey(ApiModel):
    public_key: str = Field(
        description="Uncompressed P-256 point, base64url: applicationServerKey."
    )


class PushSubscriptionCreated(ApiModel):
    id: str


class PhotoUploadUrl(ApiModel):
    photo_id: str
    upload_url: str
    expires_at: datetime
    max_bytes: int


class PhotoAccepted(ApiModel):
    photo_id: str = Field(description="The stored photo (an earlier one with the same bytes).")
    status: Literal["queued", "processing", "ready", "failed"]


class JobDetail(ApiModel):
    job: JobFull
    customer_contact: CustomerContact
    checklist_items: list[ChecklistItemOut]
    photos: list[PhotoOut]
    location: Location


class FieldError(ApiModel):
    field: str
    message: str


class Problem(ApiModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class Health(ApiModel):
    status: Literal["ok"]
    checks: dict[str, str] | None = Field(
        None,
        description="/readyz only: each dependency's state: `ok`, `local` (per process by "
        "configuration) or `degraded: <why>` (serving without it).",
    )


class JobState(JobFull):
    """A job as offline sync sends it: enough to work on it with no signal."""

    checklist_items: list[ChecklistItemOut]
    location: Location


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
    job: JobState | JobSummary = Field(
        description="The job now; for job_reassigned only its list fields (it is not yours)."
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
    kind: Literal["update", "checkin"]
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


class CheckInOut(ApiModel):
    id: str
    type: Literal["in", "out"]
    timestamp: datetime
    distance_meters: float | None
    within_geofence: bool | None


class CheckInAnswer(ApiModel):
    check_in: CheckInOut


class MutationSeen(ApiModel):
    mutation_id: str
    job_id: str | None
    outcome: str
    code: str | None
    received_at: datetime


class DeviceStatus(ApiModel):
    id: str
    client_id: str
    name: str
    platform: str
    user_id: str
    user_name: str
    last_contact_at: datetime
    clock_skew_seconds: float | None
    last_applied_mutation: MutationSeen | None
    rejected_count: int
    superseded_count: int
    latest_refused: MutationSeen | None


class DevicesList(ApiModel):
    devices: list[DeviceStatus]


class OfflineKeyOut(ApiModel):
    algorithm: Literal["AES-GCM"]
    key: str = Field(description="32 bytes, base64url without padding.")
    key_id: str


class CheckInRecord(CheckInOut):
    user_id: str
    location: Location | None
    accuracy: float | None
    device_time: datetime
    received_at: datetime
    clock_skew_seconds: float | None


class CheckInList(ApiModel):
    check_ins: list[CheckInRecord]


class TeamUpdateAccepted(ApiModel):
    event_id: int


class NotificationQueued(ApiModel):
    notification_id: str
    recipients: int = Field(description="People it is for (each gets it on every phone).")
    send_at: datetime


class LocalisedText(BaseModel):
    th: str
    en: str


class NotificationRecord(ApiModel):
    id: str
    kind: Literal["message", "assigned", "reassigned", "cancelled", "rescheduled", "urgent"]
    status: Literal["scheduled", "sent"]
    title: LocalisedText
    body: LocalisedText
    url: str
    urgency: Literal["very-low", "low", "normal", "high"]
    ttl: int
    send_at: datetime
    created_at: datetime
    job_id: str | None
    change_id: int | None
    recipients: int


DeliveryState = Literal["queued", "accepted", "failed", "displayed", "clicked"]


class DeliveryRecord(ApiModel):
    """One subscription's delivery. ``accepted``: the push service took it (not yet proof
    the phone showed it); ``displayed``/``clicked``: the phone's service worker said so."""

    id: str
    user_id: str
    subscription_id: str
    push_service: str
    state: DeliveryState
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    queued_at: datetime
    accepted_at: datetime | None
    failed_at: datetime | None
    displayed_at: datetime | None
    clicked_at: datetime | None


class NotificationDetail(ApiModel):
    notification: NotificationRecord
    counts: dict[DeliveryState, int]
    deliveries: list[DeliveryRecord]
    without_subscription: list[str] = Field(
        description="Recipients with no push subscription when it went out."
    )


class ReceiptState(ApiModel):
    id: str
    state: DeliveryState


class ReceiptRecorded(ApiModel):
    deliveries: list[ReceiptState]


class PushPreferencesView(ApiModel):
    quiet_hours: dict[Literal["from", "until"], str] | None
    opted_out: list[str]
