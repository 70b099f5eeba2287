"""Rate limits on every caller (API4): per device and per person, per route class, told in
the IETF RateLimit headers, 429 problem+json with Retry-After past a budget, shared through
Redis, and sized so that a phone's day of offline work replays without one."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from server.config import Settings
from server.context import AppContext
from server.errors import RateLimited
from server.http.rate_limits import RateLimits, RouteClass, client_prefix
from server.integration.keys import create_api_key
from tests.auth.test_auth import LOGIN, credentials
from tests.conftest import make_settings
from tests.phones import CHANGES, Phone
from tests.problems import assert_problem
from tests.requirements import unavailable
from tests.servers import wait_for
from tests.windows import MINUTE, clear_of_a_window_edge
from tests.world import World, add_jobs, add_staff, bearer

FEED = "/api/mobile/jobs"
REDIS_URL = "redis://127.0.0.1:6379/14"
ITEM = r'"{name}";r=(\d+);t=(\d+)'


def remaining(response: httpx.Response, name: str) -> int:
    found = re.search(ITEM.format(name=re.escape(name)), response.headers["ratelimit"])
    assert found is not None, response.headers["ratelimit"]
    assert 0 < int(found.group(2)) <= 60
    return int(found.group(1))


async def test_answers_carry_the_ietf_ratelimit_headers(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = bearer(ctx.signer, world.staff_a)
    feed = await client.get(FEED, headers=headers)
    assert feed.headers["ratelimit-policy"] == '"reads";q=600;w=60, "reads-user";q=1200;w=60'
    assert (remaining(feed, "reads"), remaining(feed, "reads-user")) == (599, 1199)
    missing = await client.get(f"{FEED}/00000000-0000-0000-0000-000000000000", headers=headers)
    assert missing.status_code == 404 and remaining(missing, "reads") == 598
    same = await client.get(FEED, headers=headers | {"If-None-Match": feed.headers["etag"]})
    assert same.status_code == 304 and "ratelimit" not in same.headers  # counted, not told
    assert remaining(await client.get(FEED, headers=headers), "reads") == 596
    synced = await client.post("/api/mobile/sync", json={}, headers=headers)
    assert synced.headers["ratelimit-policy"].startswith('"sync";q=120;w=60')
    signed_in = await client.post(LOGIN, json=credentials(world.staff_a))
    assert signed_in.headers["ratelimit-policy"] == '"sign_in";q=300;w=60'
    key = (await create_api_key("limits", ["jobs:read"])).key
    crm = await client.get(
        "/api/integration/v1/jobs/none", headers={"Authorization": f"Bearer {key}"}
    )
    assert crm.headers["ratelimit-policy"] == '"integration";q=1200;w=60'


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_reads": "3 per minute"}])
async def test_past_a_budget_is_429_with_retry_after_per_device_and_per_person(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    person = await add_staff(world)
    clear_of_a_window_edge(MINUTE, 15)
    phone, tablet = bearer(ctx.signer, person), bearer(ctx.signer, person)
    assert [(await client.get(FEED, headers=phone)).status_code for _ in range(3)] == [200] * 3
    refused = await client.get(FEED, headers=phone)
    assert_problem(refused, 429, "rate_limited")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert remaining(refused, "reads") == 0
    # The person's budget is twice a device's: the tablet gets what is left of it.
    assert [(await client.get(FEED, headers=tablet)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    others = bearer(ctx.signer, world.staff_b)
    assert (await client.get(FEED, headers=others)).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert re.search(r'tinedy_throttled_requests_total\{route_class="reads"\} [1-9]', metrics)


async def test_a_day_of_offline_work_replays_without_a_429(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """A cleaner's day offline: 20 jobs, 300 changes (steps, checklists, notes, check-ins),
    replayed at once on reconnect in batches of 10 (the app sends up to 200), each followed
    by a read of the change feed, as the app does."""
    phone = Phone(client, ctx, await add_staff(world))
    jobs = await add_jobs(phone.user, 20)
    day = [phone.update(jobs[n % 20]["id"], 1 + n // 20, notes=f"note {n}") for n in range(260)]
    check_ins = [phone.check_in(job["id"]) for job in jobs] * 2
    statuses = []
    for start in range(0, 260, 10):
        lists = {"check_ins": check_ins[start // 10 * 2 : start // 10 * 2 + 2]}
        answer = await client.post(
            "/api/mobile/sync",
            json=phone.batch(day[start : start + 10], **lists),
            headers=phone.headers,
        )
        statuses.append(answer.status_code)
        feed = await client.get(CHANGES, params={"since": "0"}, headers=phone.headers)
        statuses.append(feed.status_code)
    assert 429 not in statuses and set(statuses) == {200}, statuses


def shared_settings(tmp_path: Any, **overrides: Any) -> Settings:
    return make_settings("sqlite:///unused", tmp_path, rate_limit_url=REDIS_URL, **overrides)


async def test_writes_are_counted_across_workers_through_redis_and_reads_in_each(
    tmp_path: Any,
) -> None:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", 6379)
        writer.close()
    except OSError as exc:
        unavailable("Redis", f"unreachable ({exc})")
    settings = shared_settings(
        tmp_path, rate_limit_sync="2 per minute", rate_limit_reads="2 per minute"
    )
    first, second = RateLimits(settings), RateLimits(settings)

    async def both_share() -> bool:  # a first connection slower than an operation's timeout
        states = [await limits.counters.probe() for limits in (first, second)]
        return states == ["ok", "ok"]

    await wait_for(both_share, "both workers to count in Redis", 30)
    clear_of_a_window_edge(MINUTE, 15)
    device, user = f"device-{tmp_path.name}", f"user-{tmp_path.name}"
    await first.spend_person(RouteClass.SYNC, device, user)
    await second.spend_person(RouteClass.SYNC, device, user)
    with pytest.raises(RateLimited):
        await first.spend_person(RouteClass.SYNC, device, user)
    for limits in (first, second):
        limits.spend_read(device, user)
        limits.spend_read(device, user)
    with pytest.raises(RateLimited):
        first.spend_read(device, user)


def test_an_ipv6_client_is_its_64_and_an_ipv4_client_its_address() -> None:
    assert client_prefix("2001:db8:1:2:aaaa::1") == client_prefix("[2001:db8:1:2:ffff::9]")
    assert client_prefix("2001:db8:1:2::1") != client_prefix("2001:db8:1:3::1")
    assert client_prefix("::ffff:192.0.2.7") == "192.0.2.7" == client_prefix("192.0.2.7")
    assert client_prefix("192.0.2.7") != client_prefix("192.0.2.8")
