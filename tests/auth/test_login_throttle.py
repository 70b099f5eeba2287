"""Failed sign-ins are throttled per account and per address; correct ones never are."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.test_auth import LOGIN, credentials
from tests.problems import assert_problem
from tests.world import World, add_staff


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "login_failures_per_account": "3 per 15 minutes",
        "login_failures_per_address": "5 per 15 minutes",
    }


async def test_guessing_one_account_gets_429_with_retry_after(
    client: httpx.AsyncClient, world: World
) -> None:
    user = await add_staff(world)
    for _ in range(3):
        wrong = await client.post(LOGIN, json=credentials(user, password="guess"))
        assert wrong.status_code == 401
    blocked = await client.post(LOGIN, json=credentials(user))
    assert_problem(blocked, 429, "rate_limited")
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60


async def test_guessing_across_accounts_from_one_address_gets_429(
    client: httpx.AsyncClient, world: World
) -> None:
    users = [await add_staff(world) for _ in range(6)]
    statuses = [
        (await client.post(LOGIN, json=credentials(u, password="guess"))).status_code for u in users
    ]
    assert statuses == [401] * 5 + [429]


async def test_a_whole_team_signing_in_from_one_office_is_not_throttled(
    client: httpx.AsyncClient, world: World
) -> None:
    """Eight correct sign-ins from one address, after a few typos, with a limit of five."""
    team = [await add_staff(world) for _ in range(8)]
    for user in team[:4]:
        assert (
            await client.post(LOGIN, json=credentials(user, password="typo"))
        ).status_code == 401
    for user in team:
        assert (await client.post(LOGIN, json=credentials(user))).status_code == 200
