"""Opaque, signed keyset cursors for the jobs feed.

A cursor names the last row of a page (its scheduled time and id) and the filters it was made
for; a cursor that was edited, or that is replayed against other filters, is refused (400).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from server.errors import InvalidCursor


@dataclass(frozen=True, slots=True)
class FeedPosition:
    scheduled_at: datetime
    job_id: str


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="jobs-feed-cursor")

    def encode(self, position: FeedPosition, filters_key: str) -> str:
        return self._serializer.dumps(
            [position.scheduled_at.isoformat(), position.job_id, filters_key]
        )

    def decode(self, cursor: str, filters_key: str) -> FeedPosition:
        try:
            scheduled, job_id, made_for = self._serializer.loads(cursor)
            position = FeedPosition(datetime.fromisoformat(scheduled), str(job_id))
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidCursor("The cursor was not issued by this server.") from exc
        if made_for != filters_key:
            raise InvalidCursor("The cursor belongs to a different set of filters.")
        return position
