"""Security misconfiguration (OWASP API8): the headers every answer carries, the app shell's
Content Security Policy, no cross-origin reads, HSTS over https, and metrics that name
routes, never ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sanic import Sanic

from server.app import create_app
from server.context import AppContext
from server.errors import as_api_error, problem_response
from server.http.security_headers import API_POLICY, SHELL_POLICY
from tests.conftest import make_settings
from tests.security.routes import routes
from tests.world import World, bearer

EVERY_ANSWER = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def directives(policy: str) -> dict[str, set[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: set(values) for name, *values in parts}


async def test_every_route_answers_with_the_security_headers(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Successes and refusals alike, signed in or not (a signed-in live stream never ends
    here; its headers go through the same middleware)."""
    headers = bearer(ctx.signer, world.admin)
    answers = 0
    for route in [r for r in routes(app) if not r.websocket]:
        streams = route.path == "/api/mobile/live-updates"
        for credentials in ({},) if streams else ({}, headers):
            answer = await client.request(route.method, route.url(), headers=credentials)
            assert {k: answer.headers.get(k) for k in EVERY_ANSWER} == EVERY_ANSWER, route
            answers += 1
    for path in ("/no/such/route", "/api/mobile/jobs/not-a-job"):
        answer = await client.get(path, headers=headers)
        assert {k: answer.headers.get(k) for k in EVERY_ANSWER} == EVERY_ANSWER, path
    assert answers > 60


async def test_the_shell_runs_only_its_own_code(client: httpx.AsyncClient) -> None:
    """No inline script, no eval, no plugin, no framing, no other origin; and every file the
    shell loads is its own (so the policy cannot break it)."""
    shell = await client.get("/")
    policy = directives(shell.headers["content-security-policy"])
    assert policy["default-src"] == policy["script-src"] == {"'self'"}
    assert policy["object-src"] == policy["frame-ancestors"] == policy["base-uri"] == {"'none'"}
    assert not any("unsafe" in value or "*" in value for v in policy.values() for value in v)
    loaded = re.findall(r'(?:src|href)="([^"]+)"', shell.text)
    assert loaded and all(url.startswith("/") and not url.startswith("//") for url in loaded)
    assert re.search(r"<script(?![^>]*\ssrc=)", shell.text) is None, "an inline script"
    assert re.search(r"\son[a-z]+=", shell.text) is None, "an inline event handler"

    again = await client.get("/", headers={"If-None-Match": shell.headers["etag"]})
    assert again.status_code == 304
    assert "content-security-policy" not in again.headers, "a 304 would replace the kept one"


async def test_api_answers_forbid_everything_if_opened_as_a_page(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """JSON, problems and photos are data: opened in a tab, they may run nothing."""
    for path, headers in (
        ("/api/mobile/jobs", bearer(ctx.signer, world.staff_a)),
        ("/api/mobile/jobs", {}),
        ("/healthz", {}),
    ):
        answer = await client.get(path, headers=headers)
        assert answer.headers["content-security-policy"] == API_POLICY
    assert directives(API_POLICY) == {"default-src": {"'none'"}, "frame-ancestors": {"'none'"}}
    worker = await client.get("/sw.js")
    assert "content-security-policy" not in worker.headers, "it would govern the SW's fetches"
    assert SHELL_POLICY != API_POLICY


def test_with_photos_in_a_bucket_the_shell_may_upload_and_show_them_there(
    tmp_path: Path,
) -> None:
    """Phones upload straight to the bucket and are redirected there for photos: the shell's
    policy names its origin for connections and images, and nothing else changes."""
    settings = make_settings(
        f"sqlite:///{tmp_path / 'policy.sqlite3'}",
        tmp_path,
        photo_store="s3",
        photo_bucket="field-photos",
        photo_bucket_endpoint_url="http://127.0.0.1:9000",
    )
    shell = directives(create_app(settings, name="bucket-policy").config.SHELL_POLICY)
    assert shell["img-src"] == shell["connect-src"] == {"'self'", "http://127.0.0.1:9000"}
    assert {k: v for k, v in shell.items() if k not in ("img-src", "connect-src")} == {
        k: v for k, v in directives(SHELL_POLICY).items() if k not in ("img-src", "connect-src")
    }


async def test_no_other_origin_may_read_an_answer(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """No CORS: a page on another origin cannot read answers, with credentials or without."""
    evil = {"Origin": "https://evil.example"}
    read = await client.get("/api/mobile/jobs", headers=evil | bearer(ctx.signer, world.staff_a))
    preflight = await client.options(
        "/api/mobile/jobs",
        headers=evil | {"Access-Control-Request-Method": "GET"},
    )
    for answer in (read, preflight):
        assert not [h for h in answer.headers if h.startswith("access-control-")]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"proxies_count": 1}


@pytest.mark.parametrize(("proto", "hsts"), [("https", True), ("http", False)])
async def test_over_https_browsers_are_told_to_stay_on_https(
    client: httpx.AsyncClient, proto: str, hsts: bool
) -> None:
    proxy = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": proto}
    for path in ("/", "/healthz"):
        answer = await client.get(path, headers=proxy)
        sent = answer.headers.get("strict-transport-security")
        assert (sent == "max-age=31536000") is hsts, sent


async def test_one_proxy_connection_carrying_both_schemes_gets_hsts_only_over_https(
    client: httpx.AsyncClient,
) -> None:
    """A proxy pools its upstream connections: clients of either scheme share one."""
    seen = []
    for proto in ("https", "http", "http", "https"):
        proxy = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": proto}
        answer = await client.get("/healthz", headers=proxy)
        seen.append("strict-transport-security" in answer.headers)
    assert seen == [True, False, False, True]


async def test_metrics_name_routes_never_ids(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """``/metrics`` is public (see SECURITY.md): it must say nothing about anyone's objects,
    and made-up paths must not grow it (one ``unmatched`` series)."""
    job = world.jobs[world.staff_a["id"]][0]
    await client.get(f"/api/mobile/jobs/{job}", headers=bearer(ctx.signer, world.staff_a))
    for n in range(5):
        await client.get(f"/made-up-{n}")
    text = (await client.get("/metrics")).text
    assert job not in text and "made-up" not in text
    assert world.staff_a["id"] not in text


def test_an_unexpected_error_says_nothing_of_itself() -> None:
    """A 500 is the generic problem: no message, no type, no trace (those go to the log)."""
    failure = RuntimeError("password authentication failed for user tinedy at 10.0.0.5")
    answer = problem_response(as_api_error(failure))
    assert answer.status == 500
    assert orjson.loads(answer.body or b"") == {
        "type": "urn:tinedy:problem:internal_error",
        "title": "Internal server error",
        "status": 500,
        "detail": "Internal server error",
        "code": "internal_error",
    }
