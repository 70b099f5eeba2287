"""What an admin asks of the audit trail, and what they read back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from server.core.schemas import ApiModel

MAX_AUDIT_PAGE = 200
TargetKindName = Literal[
    "job", "device", "user", "team", "api_key", "webhook", "notification", "run"
]


class AuditParams(ApiModel):
    target_kind: TargetKindName | None = None
    target_id: str | None = Field(None, min_length=1, max_length=128)
    actor_id: uuid.UUID | None = Field(None, description="A person's or an API key's id.")
    after: int | None = Field(None, ge=1, description="The `next` of the page before.")
    limit: int = Field(50, ge=1, le=MAX_AUDIT_PAGE)


class AuditEventOut(ApiModel):
    id: int
    occurred_at: datetime
    actor_kind: Literal["user", "api_key", "system"]
    actor_id: str | None
    action: str = Field(description="What was done, e.g. job.assigned, device.revoked.")
    target_kind: TargetKindName
    target_id: str
    branch_id: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(ApiModel):
    events: list[AuditEventOut]
    next: int | None = Field(description="Pass as `after` for the next (older) page; null: none.")
