"""Behind a TLS-terminating proxy the session cookies are Secure; on plain http they are not
(a Secure cookie set over http would never come back)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.test_auth import LOGIN, credentials
from tests.world import World


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"proxies_count": 1}


@pytest.mark.parametrize(("proto", "secure"), [("https", True), ("http", False)])
async def test_cookie_secure_flag_follows_the_scheme(
    client: httpx.AsyncClient, world: World, proto: str, secure: bool
) -> None:
    proxy = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": proto}
    response = await client.post(LOGIN, json=credentials(world.staff_b, "proxied"), headers=proxy)
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 3  # access, refresh and device
    assert all(("Secure" in cookie) is secure for cookie in cookies)
