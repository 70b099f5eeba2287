"""The company's clock: it works in Bangkok time (+07:00, no daylight saving); stored times
are UTC and every answer shows them in the company's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")


def local_time(value: datetime) -> str:
    """RFC 3339 in the company's zone (+07:00); stored values are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BANGKOK).isoformat()
