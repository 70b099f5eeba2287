"""Device cookies (OWASP's): a sign-in presenting the cookie of an earlier sign-in of its
account is counted on that cookie's own budget, so an attacker behind the owner's address
(a carrier NAT, an office Wi-Fi, loopback) cannot lock the owner out. Without a valid cookie
of the account the throttle holds as before, and a stolen cookie buys only its budget."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.throttle import LoginThrottle
from server.auth.tokens import TokenSigner
from server.context import AppContext
from server.http.rate_limits import WindowCounters
from tests.auth.test_auth import LOGIN, REFRESH, credentials
from tests.auth.test_login_throttle import THROTTLE_SETTINGS, from_address
from tests.problems import assert_problem
from tests.servers import running_instances
from tests.windows import QUARTER_HOUR, clear_of_a_window_edge
from tests.world import World, add_staff, add_user

DEVICE_COOKIE = "tinedy_device"
REDIS_URL = "redis://127.0.0.1:6379/14"
YEAR = 365 * 24 * 3600


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    clear_of_a_window_edge(QUARTER_HOUR, 60)
    return THROTTLE_SETTINGS


async def device_token(client: httpx.AsyncClient, user: dict[str, Any], address: str) -> str:
    """Sign ``user`` in from ``address``: the device token it is given (the client keeps no
    cookie: each request below says what it presents)."""
    response = await client.post(LOGIN, json=credentials(user), headers=from_address(address))
    assert response.status_code == 200, response.text
    client.cookies.clear()
    token: str = response.json()["deviceToken"]
    return token


async def spend_the_address(client: httpx.AsyncClient, user: dict[str, Any], address: str) -> None:
    """Wrong passwords for ``user`` from ``address`` until that client is refused."""
    wrong = credentials(user, password="guess")
    statuses = [
        (await client.post(LOGIN, json=wrong, headers=from_address(address))).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 3 + [429] * 3


async def test_the_device_cookie_is_httponly_strict_for_a_year_and_only_sent_to_auth_routes(
    client: httpx.AsyncClient, world: World
) -> None:
    user = await add_staff(world)
    response = await client.post(LOGIN, json=credentials(user))
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    cookie = next((c for c in cookies if c.startswith(f"{DEVICE_COOKIE}=")), "")
    assert cookie, cookies
    value = cookie.split(";")[0].removeprefix(f"{DEVICE_COOKIE}=")
    assert value == response.json()["deviceToken"]  # for a client without a cookie jar
    attributes = {part.strip() for part in cookie.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/api/mobile/auth", f"Max-Age={YEAR}"} <= (
        attributes
    )
    assert "Secure" not in attributes, "plain http: a Secure cookie would never come back"
    refreshed = await client.post(REFRESH, json={"refreshToken": response.json()["refreshToken"]})
    assert refreshed.status_code == 200 and "deviceToken" not in refreshed.json()
    assert not any(DEVICE_COOKIE in c for c in refreshed.headers.get_list("set-cookie"))


async def test_the_dispatcher_with_a_device_cookie_signs_in_beside_an_attacker_on_loopback(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """A real server on loopback, every client 127.0.0.1 and no proxy: the attacker's wrong
    passwords (many, at once) close the address to the dispatcher's account; the dispatcher's
    browser, holding the device cookie of an earlier sign-in, still signs in at once, while
    they keep going, even past the address's budget of sign-in requests. A browser without
    the cookie is throttled as before."""
    dispatcher = await add_user("dispatcher", world.south, None)
    clear_of_a_window_edge(QUARTER_HOUR, 120)  # a server's start, then the guesses
    async with running_instances(
        database_url,
        tmp_path,
        count=1,
        LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes",
        LOGIN_FAILURES_PER_ADDRESS="5 per 15 minutes",
        RATE_LIMIT_SIGN_IN="30 per hour",  # the attacker's 61 requests spend it all
    ) as (attacker,):
        base, timeout = str(attacker.base_url), attacker.timeout
        async with (
            httpx.AsyncClient(base_url=base, timeout=timeout) as browser,
            httpx.AsyncClient(base_url=base, timeout=timeout) as other_browser,
        ):
            assert (await browser.post(LOGIN, json=credentials(dispatcher))).status_code == 200
            wrong = credentials(dispatcher, password="guess")
            answers = await asyncio.gather(*(attacker.post(LOGIN, json=wrong) for _ in range(40)))
            statuses = Counter(answer.status_code for answer in answers)
            assert statuses == {401: 3, 429: 37}, statuses
            *more, signed_in = await asyncio.gather(
                *(attacker.post(LOGIN, json=wrong) for _ in range(20)),
                browser.post(LOGIN, json=credentials(dispatcher, "laptop")),
            )
            assert signed_in.status_code == 200, signed_in.text
            assert {answer.status_code for answer in more} == {429}
            refused = await other_browser.post(LOGIN, json=credentials(dispatcher))
            assert_problem(refused, 429, "rate_limited")  # no cookie: the protection holds
            assert_problem(await attacker.post(LOGIN, json=wrong), 429, "rate_limited")
            again = await browser.post(LOGIN, json=credentials(dispatcher, "laptop"))
            assert again.status_code == 200


async def test_wrong_passwords_with_a_device_cookie_count_on_its_budget_only(
    client: httpx.AsyncClient, world: World
) -> None:
    """The owner's typos on their own device spend neither the address's budgets nor the
    account's: a colleague at the same address still signs in to the account."""
    office = "198.51.100.7"
    user = await add_staff(world)
    token = await device_token(client, user, office)
    typo = credentials(user, password="typo") | {"deviceToken": token}
    for _ in range(3):
        answer = await client.post(LOGIN, json=typo, headers=from_address(office))
        assert_problem(answer, 401, "invalid_credentials")
    answer = await client.post(LOGIN, json=credentials(user), headers=from_address(office))
    assert answer.status_code == 200


async def test_a_forged_expired_or_other_accounts_device_cookie_gives_no_exemption(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    nat = "203.0.113.40"
    dispatcher = await add_user("dispatcher", world.south, None)
    colleague = await add_staff(world)
    own = await device_token(client, dispatcher, "198.51.100.8")
    account = dispatcher["email"].casefold()
    forged_key = TokenSigner("another-secret-" + "x" * 40, 900, 3600).issue_device(account)
    tampered = own[:-4] + ("AAAA" if not own.endswith("AAAA") else "BBBB")
    others = await device_token(client, colleague, nat)
    access = (await client.post(LOGIN, json=credentials(dispatcher, "phone-2"))).json()
    client.cookies.clear()
    await spend_the_address(client, dispatcher, nat)
    for presented in (forged_key, tampered, others, access["accessToken"], "not-a-token"):
        answer = await client.post(
            LOGIN,
            json=credentials(dispatcher),
            headers=from_address(nat) | {"Cookie": f"{DEVICE_COOKIE}={presented}"},
        )
        assert_problem(answer, 429, "rate_limited")
    assert ctx.signer.device_nonce(own, account) is not None
    assert account.encode() not in base64.urlsafe_b64decode(own.split(".")[1] + "==")
    answer = await client.post(
        LOGIN,
        json=credentials(dispatcher),
        headers=from_address(nat) | {"Cookie": f"{DEVICE_COOKIE}={own}"},
    )
    assert answer.status_code == 200  # the real cookie, at the same closed address


async def test_a_stolen_device_cookie_buys_only_its_budget(
    client: httpx.AsyncClient, world: World
) -> None:
    """A thief guessing with the owner's cookie gets the cookie's budget, then the normal
    limits of their address; the spent cookie is no cookie for its owner either (they sign
    in under the normal limits of their own address)."""
    owner = await add_staff(world)
    stolen = await device_token(client, owner, "198.51.100.9")
    guess = credentials(owner, password="guess") | {"deviceToken": stolen}
    thief = from_address("203.0.113.77")
    statuses = [(await client.post(LOGIN, json=guess, headers=thief)).status_code for _ in range(8)]
    assert statuses == [401] * 3 + [401] * 3 + [429] * 2  # its budget, then the address's
    with_cookie = credentials(owner) | {"deviceToken": stolen}
    assert_problem(await client.post(LOGIN, json=with_cookie, headers=thief), 429, "rate_limited")
    home = from_address("198.51.100.9")
    assert (await client.post(LOGIN, json=with_cookie, headers=home)).status_code == 200


@pytest.mark.parametrize("storage", ["memory://", REDIS_URL])
async def test_guesses_with_a_stolen_cookie_sent_at_once_stay_within_the_budgets(
    storage: str,
) -> None:
    """Reserved atomically (Redis INCRBY or the worker's memory): 40 guesses at once with
    one cookie pass only the cookie's budget (3) and then the address's at the account (3)."""
    clear_of_a_window_edge(QUARTER_HOUR, 30)
    throttle = LoginThrottle(
        WindowCounters(storage, "login throttle"),
        "3 per 15 minutes",
        "5 per 15 minutes",
        "8 per 15 minutes",
    )
    email, nonce = f"owner-{uuid.uuid4().hex[:8]}@test.local", secrets.token_urlsafe(16)
    address = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}::1"
    tries = [throttle.reserve(email, address, nonce) for _ in range(40)]
    outcomes = await asyncio.gather(*tries, return_exceptions=True)
    assert Counter(type(o).__name__ for o in outcomes) == {"Reservation": 6, "RateLimited": 34}
    assert throttle.status in {"local", "ok"}, throttle.status
