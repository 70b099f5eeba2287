"""Response shapes of the office's writes."""

from __future__ import annotations

from server.core.schemas import ApiModel


class TeamUpdateAccepted(ApiModel):
    event_id: int
