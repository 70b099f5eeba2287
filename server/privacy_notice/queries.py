"""Queries on privacy acknowledgements: one row per person and notice version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from server.db.tables import PrivacyAcknowledgement


async def acknowledged_at(user_id: str, version: str) -> datetime | None:
    """When the person first acknowledged this version of the notice, if they did."""
    row: dict[str, Any] | None = (
        await PrivacyAcknowledgement.select(PrivacyAcknowledgement.acknowledged_at)
        .where(
            (PrivacyAcknowledgement.user_id == user_id)
            & (PrivacyAcknowledgement.notice_version == version)
        )
        .order_by(PrivacyAcknowledgement.acknowledged_at)
        .first()
        .run()
    )
    return row["acknowledged_at"] if row else None


async def insert_acknowledgement(
    user_id: str, device_id: str, version: str, locale: str, at: datetime
) -> None:
    """Record it, unless the person acknowledged this version already (a unique index on
    ``(user_id, notice_version)``: two devices at once write one row)."""
    row = PrivacyAcknowledgement(
        id=uuid.uuid4(),
        user_id=user_id,
        device_id=device_id,
        notice_version=version,
        locale=locale,
        acknowledged_at=at,
    )
    await PrivacyAcknowledgement.insert(row).on_conflict(action="DO NOTHING").run()
