"""Response shapes of photos and their upload URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.schemas import ApiModel, Location


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


class PhotoUploadUrl(ApiModel):
    photo_id: str
    upload_url: str
    expires_at: datetime
    max_bytes: int


class PhotoAccepted(ApiModel):
    photo_id: str = Field(description="The stored photo (an earlier one with the same bytes).")
    status: Literal["queued", "processing", "ready", "failed"]
