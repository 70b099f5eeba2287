"""Response shapes of check-ins and check-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from server.core.schemas import ApiModel, Location


class CheckInOut(ApiModel):
    id: str
    type: Literal["in", "out"]
    timestamp: datetime
    distance_meters: float | None
    within_geofence: bool | None


class CheckInAnswer(ApiModel):
    check_in: CheckInOut


class CheckInRecord(CheckInOut):
    user_id: str
    location: Location | None
    accuracy: float | None
    device_time: datetime
    received_at: datetime
    clock_skew_seconds: float | None


class CheckInList(ApiModel):
    check_ins: list[CheckInRecord]
