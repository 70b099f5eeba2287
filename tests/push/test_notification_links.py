"""A notification's ``url`` is where a tap takes the phone: only a path of this app, judged as
a browser parses it (WHATWG URL: a backslash is a slash, tabs and line breaks vanish), so no
spelling of another origin or of a script passes."""

from __future__ import annotations

import httpx
import pytest

from server.context import AppContext
from server.push.service import same_origin_path
from tests.problems import assert_problem
from tests.world import World, bearer

SAME_ORIGIN = ["/", "/#board", "/#job/4d1c", "/jobs?day=2026-12-05", "/a\\b", "/.//x"]
ANOTHER_ORIGIN_OR_A_SCRIPT = [
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    " //evil.example",
    "/ /evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "",
]


@pytest.mark.parametrize("url", SAME_ORIGIN)
def test_a_path_of_this_app_is_taken(url: str) -> None:
    assert same_origin_path(url)


@pytest.mark.parametrize("url", ANOTHER_ORIGIN_OR_A_SCRIPT)
def test_nothing_a_browser_would_take_elsewhere_is_taken(url: str) -> None:
    assert not same_origin_path(url)


@pytest.mark.parametrize("url", ["/\\evil.example", "/\\\\evil.example", "//evil.example"])
async def test_the_send_route_refuses_a_link_elsewhere(
    client: httpx.AsyncClient, ctx: AppContext, world: World, url: str
) -> None:
    message = {"title": "x", "userIds": [world.staff_a["id"]], "url": url}
    answer = await client.post(
        "/api/mobile/notifications/send", json=message, headers=bearer(ctx.signer, world.dispatcher)
    )
    problem = assert_problem(answer, 422, "validation_failed")
    assert "url" in str(problem.get("errors", problem))
