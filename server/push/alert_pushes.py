"""Pushes that tell a branch's dispatchers of an alert (see ``alerts/``).

An alert push is a notification like a dispatcher's message: kept now, fanned out to its
recipients' subscriptions by whichever sender takes it (``push/service.py``). Quiet hours
hold it until they end, unless the alert is urgent (urgency ``high`` rings through them);
it cannot be opted out of: looking at alerts is the dispatcher's job.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.push import queries

ALERT = "alert"
BOARD_URL = "/#board"


async def push_alert(
    branch_id: str,
    title: dict[str, str],
    body: dict[str, str],
    *,
    urgent: bool,
    job_id: str | None,
    ttl: int,
) -> None:
    """Within a write transaction: a notification to the active dispatchers of
    ``branch_id`` who have a push subscription (none: nothing to send)."""
    dispatchers = await queries.members(branch_id=branch_id, team_id=None, role="dispatcher")
    subscribed = sorted({str(s["user_id"]) for s in await queries.subscriptions_of(dispatchers)})
    if not subscribed:
        return
    await queries.insert_notification(
        {
            "id": str(uuid.uuid4()),
            "kind": ALERT,
            "branch_id": branch_id,
            "audience": {"role": "dispatcher"},
            "recipients": subscribed,
            "title": title,
            "body": body,
            "url": BOARD_URL,
            "urgency": "high" if urgent else "normal",
            "ttl_seconds": ttl,
            "job_id": job_id,
            "send_at": datetime.now(UTC),
        }
    )
