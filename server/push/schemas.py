"""Response shapes of push subscriptions, preferences and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.core.schemas import ApiModel


class VapidPublicKey(ApiModel):
    public_key: str = Field(
        description="Uncompressed P-256 point, base64url: applicationServerKey."
    )


class PushSubscriptionCreated(ApiModel):
    id: str


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
