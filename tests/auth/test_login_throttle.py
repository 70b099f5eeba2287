"""Failed sign-ins are throttled per account and client, per client and per account;
correct ones never are; the budget holds under concurrency, a /64 is one client, and no
attacker can lock the account's owner out."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.test_auth import LOGIN, credentials
from tests.problems import assert_problem
from tests.servers import running_instances
from tests.windows import QUARTER_HOUR, clear_of_a_window_edge
from tests.world import World, add_staff, add_user

THROTTLE_SETTINGS: dict[str, Any] = {
    "login_failures_per_account": "3 per 15 minutes",
    "login_failures_per_address": "5 per 15 minutes",
    "login_failures_account_ceiling": "8 per 15 minutes",
    "proxies_count": 1,  # each test names its client in X-Forwarded-For
}
"""Small budgets, and clients told apart by the address a trusted proxy names."""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    clear_of_a_window_edge(QUARTER_HOUR, 60)
    return THROTTLE_SETTINGS


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


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


async def test_guesses_sent_at_once_reach_the_password_check_at_most_the_budget(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """220 wrong passwords at once, against a real server on loopback: each is counted before
    its password is checked, so no more than the budget (5) are checked (401); the rest are
    refused (429) without a check. Meanwhile the account's owner signs in from elsewhere."""
    user = await add_staff(world)
    clear_of_a_window_edge(QUARTER_HOUR, 120)  # a server's start, then 220 guesses
    async with running_instances(
        database_url,
        tmp_path,
        count=1,
        LOGIN_FAILURES_PER_ACCOUNT="5 per 15 minutes",
        PROXIES_COUNT="1",
    ) as (server,):
        attacker, owner = from_address("203.0.113.66"), from_address("198.51.100.7")
        wrong = credentials(user, password="guess")
        guesses = [server.post(LOGIN, json=wrong, headers=attacker) for _ in range(220)]
        *answers, signed_in = await asyncio.gather(
            *guesses, server.post(LOGIN, json=credentials(user), headers=owner)
        )
        statuses = Counter(answer.status_code for answer in answers)
        assert statuses[401] <= 5 and statuses[401] + statuses[429] == 220, statuses
        assert statuses[401] >= 1  # the budget was spent on checks, not refused outright
        assert signed_in.status_code == 200
        server.cookies.clear()  # the owner's device cookie: the attacker has none
        right = await server.post(LOGIN, json=credentials(user), headers=attacker)
        assert_problem(right, 429, "rate_limited")  # this client at this account: wait


async def test_rotating_through_an_ipv6_64_is_one_client(
    client: httpx.AsyncClient, world: World
) -> None:
    users = [await add_staff(world) for _ in range(6)]
    statuses = [
        (
            await client.post(
                LOGIN,
                json=credentials(user, password="guess"),
                headers=from_address(f"2001:db8:5:7:{index}::{index + 1}"),
            )
        ).status_code
        for index, user in enumerate(users)
    ]
    assert statuses == [401] * 5 + [429]
    elsewhere = from_address("2001:db8:5:8::1")  # the next /64: another client
    answer = await client.post(
        LOGIN, json=credentials(users[5], password="guess"), headers=elsewhere
    )
    assert answer.status_code == 401


async def test_an_attacker_cannot_lock_the_dispatcher_out(
    client: httpx.AsyncClient, world: World
) -> None:
    """One client guessing hits its own budget; the dispatcher, from their own address, signs
    in. Many clients guessing pass the account's ceiling; from then on each gets one try,
    and the dispatcher still signs in, from their address or from a new one."""
    dispatcher = await add_user("dispatcher", world.south, None)
    guess = credentials(dispatcher, password="guess")
    for _ in range(10):
        await client.post(LOGIN, json=guess, headers=from_address("203.0.113.66"))
    refused = await client.post(LOGIN, json=guess, headers=from_address("203.0.113.66"))
    assert_problem(refused, 429, "rate_limited")
    office = from_address("198.51.100.7")
    assert (
        await client.post(LOGIN, json=credentials(dispatcher), headers=office)
    ).status_code == 200
    client.cookies.clear()  # the dispatcher's device cookie: the botnet has none

    botnet = [from_address(f"192.0.2.{n}") for n in range(1, 9)]  # 3 + 8 > the ceiling of 8
    for address in botnet:
        assert (await client.post(LOGIN, json=guess, headers=address)).status_code == 401
    assert_problem(await client.post(LOGIN, json=guess, headers=botnet[0]), 429, "rate_limited")
    fresh = from_address("192.0.2.200")
    assert (await client.post(LOGIN, json=guess, headers=fresh)).status_code == 401
    assert_problem(await client.post(LOGIN, json=guess, headers=fresh), 429, "rate_limited")
    assert (
        await client.post(LOGIN, json=credentials(dispatcher), headers=office)
    ).status_code == 200
    new_place = from_address("198.51.100.99")
    answer = await client.post(LOGIN, json=credentials(dispatcher), headers=new_place)
    assert answer.status_code == 200
