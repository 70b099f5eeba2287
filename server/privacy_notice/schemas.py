"""The notice as the app reads it, and the acknowledgement it sends back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.inputs import Input
from server.core.schemas import ApiModel


class NoticeRetention(ApiModel):
    """How long what the notice names is kept: the server's own settings."""

    check_in_location_days: int = Field(
        description="Check-in coordinates are forgotten after this many days "
        "(LOCATION_RETENTION_DAYS); the visit's times and on-site verdict stay."
    )
    photo_location_days: int = Field(
        description="Where a photo was taken (its coordinates and its original, whose EXIF "
        "says so too) is forgotten after this many days; its resized copies stay with the job."
    )


class PrivacyNoticeOut(ApiModel):
    version: str = Field(description="The notice's version: it changes when its text does.")
    acknowledged_at: datetime | None = Field(
        description="When the caller acknowledged this version; null: show it."
    )
    retention: NoticeRetention


class NoticeAcknowledgementIn(Input):
    version: str = Field(min_length=1, max_length=16)
    locale: Literal["th", "en"] = Field("th", description="The language it was shown in.")
