"""The privacy notice's rules: which version is current, what the retention settings say, and
one acknowledgement per person and version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from server.config import Settings
from server.core.access import Principal
from server.db.engine import write_transaction
from server.errors import StaleNotice
from server.privacy_notice import queries as notice_queries

NOTICE_VERSION: Final = "2026-12-05"
"""Bump it whenever the notice's words (``NOTICE`` in server/pwa/translations.py) change:
every cleaner is then shown the new text once (tests/privacy_notice pins the text's hash)."""


def retention(settings: Settings) -> dict[str, int]:
    """The retention periods the notice names, from the settings that enforce them."""
    days = settings.location_retention_days
    return {"checkInLocationDays": days, "photoLocationDays": days}


async def notice(principal: Principal, settings: Settings) -> dict[str, Any]:
    at = await notice_queries.acknowledged_at(principal.user_id, NOTICE_VERSION)
    return {"version": NOTICE_VERSION, "acknowledgedAt": at, "retention": retention(settings)}


async def acknowledge(
    principal: Principal, version: str, locale: str, settings: Settings
) -> dict[str, Any]:
    """Record that the person read this version (again: the first reading stands). A version
    other than the current one is refused: the app showed an older text."""
    if version != NOTICE_VERSION:
        raise StaleNotice(f"The current notice is version {NOTICE_VERSION}: show it again.")
    async with write_transaction():
        await notice_queries.insert_acknowledgement(
            principal.user_id, principal.device_id, version, locale, datetime.now(UTC)
        )
    return await notice(principal, settings)
