"""How long we keep where people were: check-in coordinates expire; the visit record stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.db.engine import write_transaction
from server.db.queries import checkins as check_in_queries


async def purge_locations(retention_days: int, now: datetime | None = None) -> int:
    """Forget the coordinates of check-ins received more than ``retention_days`` ago."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    async with write_transaction():
        return await check_in_queries.purge_coordinates(cutoff)
