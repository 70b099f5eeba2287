"""A person's stored rows as the export's JSON records: ids as text, times in the company's
zone, never a password hash, a push key or a link's hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from server.core.clock import local_time
from server.privacy.export_queries import NAMES_THEM

LEAD_POSITION = 0


def person_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "externalId": row["external_id"],
        "email": row["email"],
        "name": row["name"],
        "phone": row["phone"],
        "role": row["role"],
        "branchId": _text(row["branch"]),
        "teamId": _text(row["team"]),
        "locale": row["locale"],
        "active": row["active"],
        "hasPassword": row["password_hash"] != "",
        "createdAt": _when(row["created_at"]),
        "erasedAt": _when(row["erased_at"]),
    }


def device_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "clientId": row["client_id"],
        "name": row["name"],
        "platform": row["platform"],
        "createdAt": _when(row["created_at"]),
        "lastSeenAt": _when(row["last_seen_at"]),
        "revokedAt": _when(row["revoked_at"]),
        "revokedReason": row["revoked_reason"],
    }


def check_in_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "jobId": str(row["job"]),
        "deviceId": _text(row["device_id"]),
        "type": row["type"],
        "location": None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]},
        "accuracy": row["accuracy"],
        "distanceMeters": row["distance_meters"],
        "withinGeofence": row["within_geofence"],
        "locationMissing": bool(row["location_missing"]),
        "deviceTime": _when(row["device_time"]),
        "recordedTime": _when(row["recorded_time"]),
        "receivedAt": _when(row["received_at"]),
        "clockSkewSeconds": row["clock_skew_seconds"],
    }


def photo_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "jobId": str(row["job"]),
        "deviceId": _text(row["device_id"]),
        "kind": row["kind"],
        "contentType": row["content_type"],
        "status": row["status"],
        "sizeBytes": row["size_bytes"],
        "width": row["width"],
        "height": row["height"],
        "takenAt": _when(row["taken_at"]),
        "location": None if row["lat"] is None else {"lat": row["lat"], "lng": row["lng"]},
        "distanceMeters": row["distance_meters"],
        "flags": list(row["flags"]),
        "createdAt": _when(row["created_at"]),
        "uploadedAt": _when(row["uploaded_at"]),
    }


def subscription_record(row: dict[str, Any]) -> dict[str, Any]:
    """A browser's Web Push subscription: the push service's host, never the endpoint's
    secret path or the encryption keys."""
    return {
        "id": str(row["id"]),
        "deviceId": _text(row["device_id"]),
        "pushService": urlsplit(row["endpoint"]).hostname or "",
        "createdAt": _when(row["created_at"]),
        "lastSeenAt": _when(row["last_seen_at"]),
    }


def job_records(
    jobs: list[dict[str, Any]], places: list[dict[str, Any]], taken_off: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each job that shows them: its time and state, their role on its crew now (``lead``,
    ``member``, or none), and when changes took it from them."""
    roles = {
        str(p["job_id"]): "lead" if p["position"] == LEAD_POSITION else "member" for p in places
    }
    off: dict[str, list[str | None]] = {}
    for change in taken_off:
        off.setdefault(str(change["job_id"]), []).append(_when(change["occurred_at"]))
    return [
        {
            "jobId": str(job["id"]),
            "serviceType": job["service_type"],
            "status": job["status"],
            "scheduledAt": _when(job["scheduled_at"]),
            "role": roles.get(str(job["id"])),
            "takenOffAt": off.get(str(job["id"]), []),
        }
        for job in jobs
    ]


def change_record(row: dict[str, Any]) -> dict[str, Any]:
    """One of their acts in the change log, without the job as it stood after it (the
    customer's record, not theirs)."""
    record = plain(row) or {}
    record["payload"] = {k: v for k, v in (row["payload"] or {}).items() if k != "job"}
    return record


def alert_record(row: dict[str, Any]) -> dict[str, Any]:
    """An alert about them, or one they only acknowledged: then its detail (about someone
    else, or a job) is left out."""
    record = plain({name: value for name, value in row.items() if name != NAMES_THEM}) or {}
    if not row[NAMES_THEM]:
        record["detail"] = None
    return record


def receipts_summary(rows: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], {})[row["outcome"]] = int(row["total"])
    firsts = [_moment(row["first"]) for row in rows if row["first"] is not None]
    lasts = [_moment(row["last"]) for row in rows if row["last"] is not None]
    return {
        "total": sum(int(row["total"]) for row in rows),
        "byKind": by_kind,
        "first": _when(min(firsts)) if firsts else None,
        "last": _when(max(lasts)) if lasts else None,
        "receipts": rows_of(receipts),
    }


def _moment(value: datetime | str) -> datetime:
    """A time from an aggregate (SQLite answers MIN and MAX of a time as text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def rows_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [plain(row) or {} for row in rows]


def plain(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored row as JSON values: ids as text, times in the company's zone."""
    if row is None:
        return None
    return {_camel(name): _value(value) for name, value in row.items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return local_time(value)
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _when(value: datetime | None) -> str | None:
    return None if value is None else local_time(value)
