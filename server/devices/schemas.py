"""Response shapes of the office's view of staff phones."""

from __future__ import annotations

from datetime import datetime

from server.core.schemas import ApiModel
from server.sync.schemas import MutationSeen


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
