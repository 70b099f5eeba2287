"""A branch of its own for each alert test (so its alert list holds only what the test did),
and the planner driven by the test: an app under test runs none of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from server.alerts import queries as alert_queries
from server.alerts.service import plan_alerts
from server.changes.queries import log_rows_after, newest_change_id
from server.context import AppContext
from server.db.engine import write_transaction
from server.people import queries as people_queries
from tests.phones import Dispatcher, Phone
from tests.push.push_service import PushService
from tests.world import World, add_user, bearer

ALERTS = "/api/dispatch/alerts"


@dataclass
class Branch:
    """A new branch: its team, a dispatcher, and a staff member with a phone."""

    id: str
    team: str
    dispatcher: Dispatcher
    phone: Phone

    @property
    def staff(self) -> dict[str, Any]:
        return self.phone.user

    async def alerts(self, state: str = "open") -> list[dict[str, Any]]:
        answer = await self.dispatcher.client.get(
            ALERTS, params={"state": state}, headers=self.dispatcher.headers
        )
        assert answer.status_code == 200, answer.text
        alerts: list[dict[str, Any]] = answer.json()["alerts"]
        return alerts


async def new_branch(client: httpx.AsyncClient, ctx: AppContext) -> Branch:
    branch, team = str(uuid.uuid4()), str(uuid.uuid4())
    async with write_transaction():
        await people_queries.insert_branches([{"id": branch, "name": f"Branch {branch[:6]}"}])
        await people_queries.insert_teams([{"id": team, "name": "Team", "branch": branch}])
    dispatcher = await add_user("dispatcher", branch, None, name="Office")
    staff = await add_user("staff", branch, team, name="Lead")
    return Branch(branch, team, Dispatcher(client, ctx, dispatcher), Phone(client, ctx, staff))


@pytest.fixture
async def branch(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Branch:
    return await new_branch(client, ctx)


@pytest.fixture(autouse=True)
async def planner_from_now(app: Any) -> None:
    """The planner's cursor at the newest change: what earlier tests did raises nothing here."""
    async with write_transaction():
        await alert_queries.ensure_plan_cursor(0)
        await alert_queries.move_plan_cursor(await newest_change_id())


async def plan(ctx: AppContext) -> None:
    """Run the planner until it has read the whole log."""
    while await plan_alerts(ctx.settings.push_ttl_seconds) != 0:
        pass


async def raised_rows(after: int) -> list[dict[str, Any]]:
    """The ``alert.raised`` rows logged after change ``after``."""
    return [row for row in await log_rows_after(after, 10_000) if row["kind"] == "alert.raised"]


def office(ctx: AppContext, user: dict[str, Any]) -> dict[str, str]:
    return bearer(ctx.signer, user)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    async with PushService() as service:
        yield service
