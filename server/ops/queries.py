"""The readiness probe's query."""

from __future__ import annotations

from server.db.engine import current_engine


async def ping() -> None:
    """Raises when the database does not answer."""
    await current_engine().run_ddl("SELECT 1")
