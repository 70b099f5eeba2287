"""Messages from the office to a team ("the Sukhumvit condo gate code changed"): logged like
any change, so they reach phones live and are replayed to those who were away."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import Field

from server.audit import service as audit
from server.changes.service import record_team_update
from server.core.access import Principal
from server.core.clock import local_time
from server.core.inputs import Input, Prose
from server.db.engine import write_transaction
from server.errors import TeamNotFound
from server.people import queries as people_queries


class TeamUpdate(Input):
    team_id: uuid.UUID
    message: Prose = Field(min_length=1, max_length=1000)


async def send_team_update(
    principal: Principal, update: TeamUpdate, request_id: str | None = None
) -> dict[str, int]:
    """Log the message for the team; answers its event id. A team of another branch is the
    same 404 as no team."""
    team = await people_queries.get_team(str(update.team_id))
    if team is None or not principal.audience.office_of(team["branch"]):
        raise TeamNotFound()
    sent_at = local_time(datetime.now(UTC))
    async with write_transaction():
        event_id = await record_team_update(
            str(update.team_id), str(team["branch"]), principal.user_id, update.message, sent_at
        )
        await audit.record(
            audit.AuditActor.user(principal.user_id, request_id),
            "team.update_sent",
            "team",
            str(update.team_id),
            branch_id=team["branch"],
            detail={"eventId": event_id},
        )
    return {"eventId": event_id}
