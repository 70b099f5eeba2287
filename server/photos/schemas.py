"""Response shapes of photo uploads (a photo as a job shows it is in ``jobs/schemas.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.schemas import ApiModel


class PhotoUploadUrl(ApiModel):
    photo_id: str
    upload_url: str = Field(
        description="PUT the bytes here, with upload_headers: the app's own URL, or with "
        "PHOTO_STORE=s3 the bucket's presigned URL (then POST complete_url)."
    )
    upload_headers: dict[str, str] = Field(description="Headers the PUT must carry.")
    complete_url: str | None = Field(
        description="With PHOTO_STORE=s3: POST here (no body) once the bucket took the bytes; "
        "it answers as the PUT does with the app's own URL. Null otherwise."
    )
    expires_at: datetime
    max_bytes: int


class PhotoAccepted(ApiModel):
    photo_id: str = Field(description="The stored photo (an earlier one with the same bytes).")
    status: Literal["queued", "processing", "ready", "failed", "rejected"]
