"""The installable app: the HTML shell, its hashed static assets, and the web manifest and
service worker rendered for the caller's locale and role.

The shell and the service worker are ``no-cache`` (always revalidated, so a new build is
seen at once); hashed assets are immutable for a year; the manifest is per user and
``private``. A visitor who is not signed in gets the manifest and worker of their browser's
language.
"""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.errors import ApiError, NotFound
from server.http.endpoint import endpoint, principal_of
from server.http.files import send_representation_bytes
from server.people import service as user_service
from server.pwa.shell import locale_from
from server.pwa.vocabulary import PAGES

pwa_routes = Blueprint("pwa")


@pwa_routes.get("/")
@endpoint("The app shell (HTML); revalidated on every load.", roles=None)
async def app_shell(request: Request) -> HTTPResponse:
    return send_representation_bytes(request, app_context(request).shell.shell)


@pwa_routes.get(PAGES["setPassword"])
@endpoint(
    "The app shell on its set-your-password screen, the page the office's invite and reset "
    "links open; the token is in the link's fragment, so it never reaches the server.",
    roles=None,
)
async def set_password_page(request: Request) -> HTTPResponse:
    return send_representation_bytes(request, app_context(request).shell.shell)


@pwa_routes.get("/static/<name:path>")
@endpoint(
    "A hashed, precompressed asset of the app shell; cacheable for a year.",
    roles=None,
    responses={200: None, 304: None, 404: Problem},
)
async def static_asset(request: Request, name: str) -> HTTPResponse:
    asset = app_context(request).shell.files.get(name)
    if asset is None:
        raise NotFound("No such asset: a new build renames every asset it changes.")
    return send_representation_bytes(request, asset)


@pwa_routes.get("/manifest.webmanifest")
@endpoint(
    "The web app manifest in the caller's language, with shortcuts for their role.", roles=None
)
async def web_manifest(request: Request) -> HTTPResponse:
    locale, role = await _audience(request)
    return send_representation_bytes(request, app_context(request).shell.web_manifest(locale, role))


@pwa_routes.get("/sw.js")
@endpoint("The service worker for the caller's strategy set (role and language).", roles=None)
async def service_worker(request: Request) -> HTTPResponse:
    locale, role = await _audience(request)
    worker = app_context(request).shell.service_worker(locale, role)
    return send_representation_bytes(request, worker)


async def _audience(request: Request) -> tuple[str, str | None]:
    """The signed-in user's locale and role, or the browser's language for a visitor."""
    visitor = locale_from(request.headers.get("accept-language", ""))
    try:
        principal: Principal = principal_of(request)
    except ApiError:
        return visitor, None
    return await user_service.locale_of(principal.user_id) or visitor, principal.role
