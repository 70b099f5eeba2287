"""Check-ins as proof of a visit: where and when, measured against the job's address.

A check-in is never refused for being far away or late: it is recorded with what the server
can vouch for (its own receive time, the device's measured clock skew, the distance to the
job) and flagged, so a dispatcher can judge. Client clocks are evidence, not authority: the
device's time is kept as sent, and the time we show is corrected by the skew measured at the
same sync and never later than the moment we received it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.checkins.schemas import CheckInFields
from server.core.clock import local_time
from server.jobs.service import job_summary

EARTH_RADIUS_METERS = 6_371_008.8
CHECK_IN_RECORDED = "checkin.recorded"
SKEW_AHEAD_TRUSTED = 120.0
"""Seconds a device's clock may be measured ahead of the server's and still correct its
times by that much (a phone's clock is seldom further off; network time keeps it close)."""


@dataclass(frozen=True, slots=True)
class Geofence:
    """``radius_meters`` around the job, widened by the fix's reported accuracy up to
    ``radius_meters`` more (a wildly inaccurate fix cannot make everywhere "inside")."""

    radius_meters: float

    def contains(self, distance_meters: float, accuracy_meters: float) -> bool:
        return distance_meters <= self.radius_meters + min(accuracy_meters, self.radius_meters)


def haversine_meters(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(a)))


def corrected_time(
    device_time: datetime, skew_seconds: float | None, received: datetime
) -> datetime:
    """A device's time on the server's clock: minus the measured skew, never in the future.

    A clock measured ahead of the server's counts as at most :data:`SKEW_AHEAD_TRUSTED`
    ahead: the skew comes from the batch's own ``deviceTime``, so a phone that sent one from
    the future would otherwise move its check-ins back by as much (arriving "earlier"). A
    clock truly further ahead gets its times clamped to their receipt: later than the visit,
    never earlier."""
    if skew_seconds is not None:
        device_time -= timedelta(seconds=min(skew_seconds, SKEW_AHEAD_TRUSTED))
    return min(device_time, received)


def check_in_row(
    job: dict[str, Any],
    fields: CheckInFields,
    *,
    mutation_id: str,
    user_id: str,
    device_id: str,
    received: datetime,
    skew_seconds: float | None,
    geofence: Geofence,
) -> dict[str, Any]:
    """The stored check-in: what the device said, and what the server measured. One sent
    without a place (the phone's location was denied or unavailable) is still a visit,
    flagged ``location_missing``, with no distance and no geofence verdict."""
    distance = None
    within = None
    place = fields.location
    if place is not None and job["lat"] is not None and job["lng"] is not None:
        distance = haversine_meters(place.lat, place.lng, job["lat"], job["lng"])
        within = geofence.contains(distance, fields.accuracy or 0.0)
    return {
        "id": str(uuid.uuid4()),
        "job": str(job["id"]),
        "user_id": user_id,
        "device_id": device_id,
        "mutation_id": mutation_id,
        "type": fields.type,
        "lat": None if place is None else place.lat,
        "lng": None if place is None else place.lng,
        "accuracy": None if place is None else fields.accuracy,
        "device_time": fields.timestamp,
        "recorded_time": corrected_time(fields.timestamp, skew_seconds, received),
        "received_at": received,
        "clock_skew_seconds": skew_seconds,
        "distance_meters": distance,
        "within_geofence": within,
        "location_missing": place is None,
    }


def check_in_answer(row: dict[str, Any]) -> dict[str, Any]:
    """What the phone is told: never the coordinates back, only the verdict."""
    distance = row["distance_meters"]
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "timestamp": local_time(row["recorded_time"]),
        "distanceMeters": None if distance is None else round(distance, 1),
        "withinGeofence": row["within_geofence"],
        "locationMissing": bool(row["location_missing"]),
    }


def check_in_record(row: dict[str, Any]) -> dict[str, Any]:
    """The whole stored check-in, coordinates included: for dispatchers and admins only."""
    location = None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]}
    return {
        **check_in_answer(row),
        "userId": str(row["user_id"]),
        "location": location,
        "accuracy": row["accuracy"],
        "deviceTime": local_time(row["device_time"]),
        "receivedAt": local_time(row["received_at"]),
        "clockSkewSeconds": row["clock_skew_seconds"],
    }


def check_in_fact(row: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """A new check-in as an unscoped change-log row, for the CRM's events: the verdict and
    times, never the coordinates (those are purged after their retention period; the log
    may keep its rows longer), and the job as the check-in left it."""
    distance = row["distance_meters"]
    return {
        "kind": CHECK_IN_RECORDED,
        "job_id": row["job"],
        "branch_id": job["branch"],
        "assignee_id": job["assignee"],
        "actor_id": row["user_id"],
        "device_id": row["device_id"],
        "payload": {
            "checkInId": str(row["id"]),
            "type": row["type"],
            "time": local_time(row["recorded_time"]),
            "distanceMeters": None if distance is None else round(distance, 1),
            "withinGeofence": row["within_geofence"],
            "locationMissing": bool(row["location_missing"]),
            "accuracyMeters": row["accuracy"],
            "job": job_summary(job),
        },
    }
