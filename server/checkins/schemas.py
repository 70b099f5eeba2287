"""Request and response shapes of check-ins and check-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.core.inputs import Input, MutationId, Rfc3339
from server.core.schemas import ApiModel, Location


class CheckInOut(ApiModel):
    id: str
    type: Literal["in", "out"]
    timestamp: datetime
    distance_meters: float | None
    within_geofence: bool | None
    location_missing: bool = Field(
        description="Sent without a place (location denied or unavailable): no verdict."
    )


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


class Coordinates(Input):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, strict=True)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, strict=True)


class CheckInFields(Input):
    """Without ``location`` (the phone's location denied or unavailable) the visit is still
    recorded, flagged for the office."""

    type: Literal["in", "out"]
    location: Coordinates | None = None
    accuracy: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False, strict=True)
    timestamp: Rfc3339


class CheckInRequest(CheckInFields):
    """``POST /api/mobile/jobs/{id}/checkin``: the job is in the path."""

    mutation_id: MutationId | None = None
