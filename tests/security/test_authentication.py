"""Broken authentication (OWASP API2): only tokens this server signed, for access, unexpired
and unedited, are taken. (Sign-in, refresh rotation, revocation, cookies and throttling are
tested in tests/auth/test_auth.py and tests/auth/test_login_throttle.py.)"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest

from server.auth.tokens import TokenSigner
from server.context import AppContext
from tests.problems import assert_problem
from tests.world import World, bearer

FEED = "/api/mobile/jobs"


def segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def claims_of(world: World, **changes: Any) -> dict[str, Any]:
    staff = world.staff_a
    now = int(time.time())
    claims = {
        "sub": staff["id"],
        "dev": "d",
        "role": "staff",
        "br": staff["branch"],
        "tm": staff["team"],
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in (claims | changes).items() if v is not None}


def forgeries(ctx: AppContext, world: World) -> dict[str, str]:
    """Tokens an attacker could make, each trying to pass as an admin's or to outlive its
    time; ``ctx.signer``'s key is derived from SECRET_KEY, which they do not have."""
    admin = claims_of(world, role="admin", br=None, tm=None)
    genuine = bearer(ctx.signer, world.staff_a)["Authorization"].removeprefix("Bearer ")
    head, _, signature = genuine.split(".")
    access_key = ctx.signer._access_key
    other_install = TokenSigner("another installation's secret", 900, 3600)
    return {
        "alg none": f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(admin)}.",
        "edited role": f"{head}.{segment(admin)}.{signature}",
        "another key": jwt.encode(
            admin, "a guessed secret, long enough for HS256", algorithm="HS256"
        ),
        "another installation": bearer(other_install, world.admin)["Authorization"][7:],
        "the refresh key": jwt.encode(admin, ctx.signer._refresh_key, algorithm="HS256"),
        "no expiry": jwt.encode(claims_of(world, exp=None), access_key, algorithm="HS256"),
        "expired": jwt.encode(claims_of(world, exp=1), access_key, algorithm="HS256"),
        "no device": jwt.encode(claims_of(world, dev=None), access_key, algorithm="HS256"),
        "not a jwt": "staff_a",
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "alg none",
        "edited role",
        "another key",
        "another installation",
        "the refresh key",
        "no expiry",
        "expired",
        "no device",
        "not a jwt",
    ],
)
async def test_tokens_this_server_did_not_issue_as_they_are_are_refused(
    client: httpx.AsyncClient, ctx: AppContext, world: World, forgery: str
) -> None:
    token = forgeries(ctx, world)[forgery]
    for carried in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"tinedy_access={token}"}):
        answer = await client.get(FEED, headers=carried)
        assert_problem(answer, 401, "invalid_token")
    as_admin = await client.get(
        "/api/dispatch/devices", headers={"Authorization": f"Bearer {token}"}
    )
    assert as_admin.status_code == 401
