"""The office's alert routes: listed newest first for the caller's branch (admins: every
branch), open or all, bounded; acknowledged once; another branch's alert is as good as none;
staff are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from server.alerts.plans import NewAlert
from server.alerts.schemas import AlertAnswer, AlertList
from server.alerts.service import raise_alerts
from server.context import AppContext
from server.db.engine import write_transaction
from tests.alerts.conftest import ALERTS, Branch, new_branch, office
from tests.answers import parse_answer
from tests.phones import new_id
from tests.problems import assert_problem
from tests.world import World


async def raise_some(ctx: AppContext, branch: Branch, count: int) -> list[str]:
    """``count`` alerts for the branch, a minute apart (the planner's own way of raising)."""
    start = datetime.now(UTC)
    ids = []
    for n in range(count):
        wanted = NewAlert("sync_rejected", branch.id, None, f"test:{new_id()}", {"n": n})
        async with write_transaction():
            [raised] = await raise_alerts([wanted], start + timedelta(minutes=n), 60)
        ids.append(raised["id"])
    return ids


async def ack(client: httpx.AsyncClient, headers: dict[str, str], alert_id: str) -> httpx.Response:
    return await client.post(f"{ALERTS}/{alert_id}/ack", headers=headers)


async def test_alerts_are_listed_newest_first_and_acknowledged_once(
    client: httpx.AsyncClient, ctx: AppContext, branch: Branch
) -> None:
    first, second, third = await raise_some(ctx, branch, 3)
    assert [a["id"] for a in await branch.alerts()] == [third, second, first]

    headers = branch.dispatcher.headers
    answer = await ack(client, headers, second)
    assert answer.status_code == 200, answer.text
    acknowledged = parse_answer(AlertAnswer, answer.json()).alert
    assert acknowledged.acknowledged_by == branch.dispatcher.user["id"]
    assert acknowledged.acknowledged_at is not None
    again = await ack(client, headers, second)
    assert again.status_code == 200
    assert again.json() == answer.json(), "the first acknowledgement stands"

    assert [a["id"] for a in await branch.alerts()] == [third, first]
    listed = await branch.alerts("all")
    parse_answer(AlertList, {"alerts": listed})
    assert [a["id"] for a in listed] == [third, second, first]
    limited = await client.get(ALERTS, params={"state": "all", "limit": 1}, headers=headers)
    assert [a["id"] for a in limited.json()["alerts"]] == [third]


async def test_another_branchs_alerts_are_neither_seen_nor_acknowledged(
    client: httpx.AsyncClient, ctx: AppContext, world: World, branch: Branch
) -> None:
    [theirs] = await raise_some(ctx, branch, 1)
    other = await new_branch(client, ctx)
    [ours] = await raise_some(ctx, other, 1)

    assert [a["id"] for a in await other.alerts("all")] == [ours]
    assert_problem(await ack(client, other.dispatcher.headers, theirs), 404, "alert_not_found")
    assert_problem(await ack(client, other.dispatcher.headers, "not-an-id"), 404, "alert_not_found")
    assert_problem(await ack(client, other.dispatcher.headers, new_id()), 404, "alert_not_found")
    assert (await branch.alerts())[0]["acknowledgedAt"] is None

    admin = office(ctx, world.admin)
    everything = await client.get(ALERTS, params={"limit": 500}, headers=admin)
    assert {theirs, ours} <= {a["id"] for a in everything.json()["alerts"]}
    assert (await ack(client, admin, theirs)).status_code == 200


async def test_staff_are_refused_and_the_query_is_checked(
    client: httpx.AsyncClient, ctx: AppContext, branch: Branch
) -> None:
    [alert] = await raise_some(ctx, branch, 1)
    staff = branch.phone.headers
    assert_problem(await client.get(ALERTS, headers=staff), 403, "role_forbidden")
    assert_problem(await ack(client, staff, alert), 403, "role_forbidden")
    assert_problem(await client.get(ALERTS), 401, "unauthorized")
    headers = branch.dispatcher.headers
    for query in ({"state": "closed"}, {"limit": 0}, {"limit": 501}, {"limit": "many"}):
        assert_problem(
            await client.get(ALERTS, params=query, headers=headers), 422, "validation_failed"
        )
