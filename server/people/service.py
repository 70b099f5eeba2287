"""What the app needs to know about a signed-in person beyond their token."""

from __future__ import annotations

from server.people import queries as people_queries


async def locale_of(user_id: str) -> str | None:
    """The person's chosen language (``th`` or ``en``), or None if they no longer exist."""
    user = await people_queries.get_user(user_id)
    return None if user is None else str(user["locale"])
