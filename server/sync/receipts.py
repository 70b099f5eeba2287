"""What became of each of a user's offline mutations, in the order the server received them:
the phone's answer when it lost the sync response."""

from __future__ import annotations

from typing import Any

from server.core.access import Principal
from server.core.clock import local_time
from server.sync import queries as sync_queries


async def receipts_page(principal: Principal, since: int, limit: int) -> dict[str, Any]:
    """The caller's receipts after ``since``, oldest first: ``{receipts, cursor, hasMore}``."""
    rows = await sync_queries.receipts_after(principal.user_id, since, limit + 1)
    page = rows[:limit]
    return {
        "receipts": [
            {
                "mutationId": row["mutation_id"],
                "kind": row["kind"],
                "jobId": None if row["job_id"] is None else str(row["job_id"]),
                "outcome": row["outcome"],
                "code": row["code"],
                "reason": row["reason"],
                "changeId": row["change_id"],
                "clientTime": local_time(row["client_time"]) if row["client_time"] else None,
                "receivedAt": local_time(row["received_at"]),
            }
            for row in page
        ],
        "cursor": int(page[-1]["id"]) if page else since,
        "hasMore": len(rows) > limit,
    }
