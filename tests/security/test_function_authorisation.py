"""Function-level authorisation and authentication (OWASP API5 and API2), derived from the
``endpoint`` metadata every route wears rather than from a list kept by hand.

A role a route does not name gets ``403 role_forbidden``; a request without credentials gets
``401`` on every route but the public ones listed here, each with the reason it is public. A
new route without ``roles`` or a key ``scope`` fails
``test_the_public_routes_are_exactly_the_listed_ones`` until it is listed; a route without the
decorator fails ``test_every_route_wears_the_endpoint_decorator``. The office CRM's routes
take only API keys, with the scope they name; people's routes take no key.
"""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from server.context import AppContext
from server.integration.keys import KeyHolder, Scope, create_api_key
from tests.problems import assert_problem
from tests.security.routes import Route, key, routes
from tests.world import World, bearer

# Routes without ``roles``, and why.
PUBLIC = {
    ("POST", "/api/mobile/auth/login"): "signing in is how credentials are obtained",
    ("GET", "/api/mobile/push/vapid-public-key"): "a public key, the same for every browser",
    ("PUT", "/api/mobile/photos/uploads/<token:str>"): "the signed upload URL is the permission",
    ("POST", "/api/mobile/photos/uploads/<token:str>/complete"): "the signed upload URL's "
    "own token is the permission",
    ("GET", "/media/<key:path>"): "the signed, expiring URL is the permission",
    ("GET", "/"): "the app shell: the sign-in page itself",
    ("GET", "/static/<name:path>"): "the shell's hashed assets, the same for everyone",
    ("GET", "/manifest.webmanifest"): "installing the app; personalised when signed in",
    ("GET", "/sw.js"): "the service worker; personalised when signed in",
    ("GET", "/healthz"): "probes: says only that the process is up",
    ("GET", "/readyz"): "probes: says only whether the database answers",
    ("GET", "/metrics"): "Prometheus scraping; restrict it at the proxy (SECURITY.md)",
    ("GET", "/openapi.json"): "the published API description",
    ("GET", "/set-password"): "the app shell on its set-your-password screen: invite links open it",
    ("POST", "/api/mobile/auth/set-password"): "the one-time link's token is the permission",
    ("POST", "/api/mobile/auth/forgot-password"): "asks the office for a link; the same answer "
    "whether or not the account exists",
}
# Routes without ``roles`` that authenticate in their handler.
SELF_AUTHENTICATING = {
    ("POST", "/api/mobile/auth/refresh"),  # the refresh token, from the body or its cookie
    ("POST", "/api/mobile/auth/logout"),  # the access token, else the refresh token
    ("GET", "/api/mobile/live-updates/ws"),  # closes 4401: tests/live/test_live_updates.py
}
ROLES = ("staff", "dispatcher", "admin")


def protected(app: Sanic[Any, Any]) -> list[Route]:
    """Every route that needs a person's credentials and answers plain HTTP."""
    return [r for r in routes(app) if key(r) not in PUBLIC and not r.websocket and r.scopes is None]


def integration(app: Sanic[Any, Any]) -> list[Route]:
    """Every route of the office CRM's (an API key with a scope)."""
    return [r for r in routes(app) if r.scopes is not None]


async def test_every_route_wears_the_endpoint_decorator(app: Sanic[Any, Any]) -> None:
    """The decorator is where authentication happens: a route without it would have none."""
    bare = [str(route) for route in routes(app) if route.operation is None]
    assert bare == []


async def test_the_public_routes_are_exactly_the_listed_ones(app: Sanic[Any, Any]) -> None:
    without_roles = {
        key(route) for route in routes(app) if route.roles is None and route.scopes is None
    }
    assert without_roles == set(PUBLIC) | SELF_AUTHENTICATING


async def test_every_route_refuses_a_request_without_credentials(
    app: Sanic[Any, Any], client: httpx.AsyncClient
) -> None:
    checked = []
    for route in protected(app):
        answer = await client.request(route.method, route.url())
        assert_problem(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer", route
        checked.append(key(route))
    assert ("GET", "/api/mobile/jobs/<job_id:str>") in checked
    # all but the WebSocket and the CRM's
    assert len(checked) == len(routes(app)) - len(PUBLIC) - 1 - len(integration(app))


async def test_the_crm_s_routes_take_only_a_key_with_their_scope(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """No key, a person's token (even an admin's) or the session cookie: 401; a key without
    the route's scope: 403, before anything is read."""
    admin = bearer(ctx.signer, world.admin)
    cookie = {"Cookie": f"tinedy_access={admin['Authorization'].removeprefix('Bearer ')}"}
    checked = []
    for route in integration(app):
        for headers in ({}, admin, cookie):
            answer = await client.request(route.method, route.url(), headers=headers, json={})
            assert_problem(answer, 401, "invalid_api_key")
        assert route.scopes is not None
        unrelated = next(s for s in Scope if s is not Scope.ALL and not _grants(s, route.scopes))
        made = await create_api_key("scope test", [unrelated])
        answer = await client.request(
            route.method, route.url(), headers={"Authorization": f"Bearer {made.key}"}, json={}
        )
        assert_problem(answer, 403, "missing_scope")
        checked.append(key(route))
    assert ("PUT", "/api/integration/v1/jobs/<external_id:str>") in checked


async def test_people_s_routes_refuse_a_crm_key(
    app: Sanic[Any, Any], client: httpx.AsyncClient
) -> None:
    made = await create_api_key("everything", ["all"])
    for route in protected(app):
        answer = await client.request(
            route.method, route.url(), headers={"Authorization": f"Bearer {made.key}"}
        )
        assert answer.status_code == 401, route
        assert answer.json()["code"] in ("invalid_token", "unauthorized"), (route, answer.text)


def _grants(scope: Scope, wanted: tuple[str, ...]) -> bool:
    holder = KeyHolder("k", "k", frozenset({scope}))
    return any(holder.allows(w) for w in wanted)


async def test_every_role_a_route_does_not_name_gets_403(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Checked before the object or the body is read: the same 403 whatever they name."""
    people = {"staff": world.staff_a, "dispatcher": world.dispatcher, "admin": world.admin}
    refused = []
    for route in routes(app):
        for role in ROLES:
            if route.roles is None or role in route.roles:
                continue
            answer = await client.request(
                route.method, route.url(), headers=bearer(ctx.signer, people[role]), json={}
            )
            assert_problem(answer, 403, "role_forbidden")
            refused.append((role, str(route)))
    assert ("staff", "POST /api/dispatch/jobs") in refused
    assert ("dispatcher", "GET /api/admin/audit") in refused
    admins_only = {route for role, route in refused if role == "dispatcher"}
    assert all(" /api/admin/" in route for route in admins_only), "dispatchers reach the rest"


async def test_a_cookie_session_cannot_be_ridden_from_another_site(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Every unsafe route the session cookie authenticates checks where the request came
    from (CSRF); the cookie is also SameSite=Strict (tests/auth/test_auth.py)."""
    token = bearer(ctx.signer, world.admin)["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"tinedy_access={token}; tinedy_refresh=any"}
    unsafe = [r for r in protected(app) if r.method not in ("GET", "HEAD", "OPTIONS")]
    for route in unsafe:
        for site in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}):
            answer = await client.request(route.method, route.url(), headers=cookie | site)
            assert_problem(answer, 403, "csrf_check_failed")
    assert len(unsafe) > 10
