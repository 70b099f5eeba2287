"""What the CRM sends to manage its webhooks, and what it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from server.core.inputs import Input, Prose, Text
from server.core.schemas import ApiModel

MAX_TYPES = 20
DeliveryState = Literal["queued", "delivered", "failed"]
Url = Annotated[Text, Field(min_length=8, max_length=2048)]
EventTypes = Annotated[
    list[Annotated[Text, Field(max_length=60)]], Field(min_length=1, max_length=MAX_TYPES)
]
Description = Annotated[Prose, Field(max_length=500)]


class NewWebhook(Input):
    url: Url
    events: EventTypes
    description: Description = ""


class WebhookChanges(Input):
    """A PATCH: only what is given changes; ``enabled: true`` brings a disabled webhook back
    (its queued deliveries go at once), ``false`` pauses it."""

    url: Url | None = None
    events: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(None, strict=True)


class WebhookCreated(ApiModel):
    id: str
    secret: str = Field(description="whsec_...: shown once; verify deliveries with it.")


class WebhookOut(ApiModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    failing_since: datetime | None = Field(description="Every try has failed since then.")
    disabled_at: datetime | None = Field(
        description="Disabled after failing WEBHOOK_DISABLE_AFTER_HOURS (or paused by PATCH)."
    )
    previous_secret_until: datetime | None = Field(
        description="After a rotation: the old secret signs too until then."
    )


class WebhookAnswer(ApiModel):
    webhook: WebhookOut


class WebhookList(ApiModel):
    webhooks: list[WebhookOut]


class RotatedSecret(ApiModel):
    secret: str
    previous_secret_until: datetime | None


class DeliveriesParams(ApiModel):
    state: DeliveryState | None = None
    limit: int = Field(100, ge=1, le=500)


class DeliveryOut(ApiModel):
    id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any.")
    last_error: str
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryList(ApiModel):
    deliveries: list[DeliveryOut]


class DeliveryAnswer(ApiModel):
    delivery: DeliveryOut
