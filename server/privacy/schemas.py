"""What an admin reads back from a person's export and erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from server.audit.schemas import AuditEventOut
from server.core.schemas import ApiModel, Location


class ExportedPerson(ApiModel):
    id: str
    external_id: str | None
    email: str
    name: str
    phone: str
    role: str
    branch_id: str | None
    team_id: str | None
    locale: str
    active: bool
    has_password: bool
    created_at: datetime | None
    erased_at: datetime | None


class ExportedCheckIn(ApiModel):
    id: str
    job_id: str
    device_id: str | None
    type: str
    location: Location | None
    accuracy: float | None
    distance_meters: float | None
    within_geofence: bool | None
    location_missing: bool
    device_time: datetime | None
    recorded_time: datetime | None
    received_at: datetime | None
    clock_skew_seconds: float | None = Field(
        description="The phone's clock minus the server's when the visit was received."
    )


class ExportedJob(ApiModel):
    job_id: str
    service_type: str
    status: str
    scheduled_at: datetime | None
    role: str | None = Field(description="``lead`` or ``member`` of its crew now; null: not on it.")
    taken_off_at: list[datetime] = Field(description="When changes took the job from them.")


class ExportedPhoto(ApiModel):
    id: str
    job_id: str
    device_id: str | None
    kind: str
    content_type: str
    status: str
    size_bytes: int | None
    width: int | None
    height: int | None
    taken_at: datetime | None
    location: Location | None
    distance_meters: float | None
    flags: list[Any]
    created_at: datetime | None
    uploaded_at: datetime | None


class ExportedPushSubscription(ApiModel):
    id: str
    device_id: str | None
    push_service: str = Field(description="The push service's host; never the keys.")
    created_at: datetime | None
    last_seen_at: datetime | None


class ReceiptsSummary(ApiModel):
    total: int
    by_kind: dict[str, dict[str, int]]
    first: datetime | None
    last: datetime | None
    receipts: list[dict[str, Any]] = Field(
        description="Each one: mutationId, deviceId, kind, jobId, outcome, code, reason, "
        "result, changeId, clientTime, receivedAt."
    )


class PersonExport(ApiModel):
    """One section per table that references the person or their devices (docs/privacy.md)."""

    exported_at: datetime
    person: ExportedPerson
    devices: list[dict[str, Any]]
    device_clocks: list[dict[str, Any]]
    jobs: list[ExportedJob]
    check_ins: list[ExportedCheckIn]
    photos: list[ExportedPhoto]
    remarks: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    mutation_receipts: ReceiptsSummary
    push_subscriptions: list[ExportedPushSubscription]
    push_deliveries: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    push_preference: dict[str, Any] | None
    password_links: list[dict[str, Any]]
    privacy_acknowledgements: list[dict[str, Any]]
    audit_events: list[AuditEventOut]


class Erased(ApiModel):
    check_ins: int = Field(description="Check-ins whose place was cleared (their visits stay).")
    facts: int = Field(
        description="Change-log facts, alerts and webhook events whose distance "
        "(or, in an event, the person's identity) was cleared."
    )
    devices: int
    mutation_receipts: int
    jobs: int = Field(description="Jobs moved a version up (their detail named the person).")
    photo_originals: int


class ErasureReport(ApiModel):
    erased_at: datetime
    erased: Erased
