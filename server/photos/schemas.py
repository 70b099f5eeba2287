"""Response shapes of photo uploads (a photo as a job shows it is in ``jobs/schemas.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.schemas import ApiModel


class PhotoUploadUrl(ApiModel):
    photo_id: str
    upload_url: str
    expires_at: datetime
    max_bytes: int


class PhotoAccepted(ApiModel):
    photo_id: str = Field(description="The stored photo (an earlier one with the same bytes).")
    status: Literal["queued", "processing", "ready", "failed"]
