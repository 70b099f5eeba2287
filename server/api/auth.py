"""``/api/mobile/auth``: sign in, refresh, sign out."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.api.endpoint import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    app_context,
    endpoint,
    require_same_origin,
)
from server.api.schemas import LoginRequest, LoginResponse, Problem, RefreshRequest
from server.errors import Unauthorized
from server.http.json_io import json_response, read_json
from server.security.tokens import Principal
from server.services import auth as auth_service
from server.services.auth import DeviceInfo, IssuedSession

auth_routes = Blueprint("auth", url_prefix="/api/mobile/auth")
REFRESH_COOKIE_PATH = "/api/mobile/auth"


@auth_routes.post("/login")
@endpoint(
    "Sign in a device; also sets the browser session cookies.",
    roles=None,
    body=LoginRequest,
    responses={200: LoginResponse, 401: Problem, 422: Problem, 429: Problem},
)
async def login(request: Request) -> HTTPResponse:
    if "origin" in request.headers or "sec-fetch-site" in request.headers:
        require_same_origin(request)
    ctx = app_context(request)
    body = read_json(request, LoginRequest)
    session = await auth_service.login(
        body.email,
        body.password,
        DeviceInfo(body.device.id, body.device.name, body.device.platform),
        request.remote_addr or request.ip,
        ctx.signer,
        ctx.throttle,
    )
    return _session_response(request, session)


@auth_routes.post("/refresh")
@endpoint(
    "Spend a refresh token for a new pair; a spent token signs the device out.",
    roles=None,
    body=RefreshRequest,
    responses={200: LoginResponse, 401: Problem},
)
async def refresh_session(request: Request) -> HTTPResponse:
    ctx = app_context(request)
    token = None
    if request.body:
        token = read_json(request, RefreshRequest).refresh_token
    if token is None and request.cookies.get(REFRESH_COOKIE):
        require_same_origin(request)
        token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("Send refreshToken in the body.")
    session = await auth_service.refresh(token, ctx.signer)
    return _session_response(request, session)


@auth_routes.post("/logout")
@endpoint("Sign this device out everywhere.", responses={204: None, 401: Problem})
async def logout(request: Request, principal: Principal) -> HTTPResponse:
    await auth_service.logout(principal)
    response = HTTPResponse(status=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH)
    return response


def _session_response(request: Request, session: IssuedSession) -> HTTPResponse:
    settings = app_context(request).settings
    response = json_response(
        {
            "accessToken": session.access_token,
            "refreshToken": session.refresh_token,
            "expiresIn": session.expires_in,
            "user": session.user,
        }
    )
    for name, value, path, max_age in (
        (ACCESS_COOKIE, session.access_token, "/", settings.access_token_seconds),
        (
            REFRESH_COOKIE,
            session.refresh_token,
            REFRESH_COOKIE_PATH,
            settings.refresh_token_seconds,
        ),
    ):
        response.add_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            httponly=True,
            samesite="Strict",
            secure=settings.cookie_secure,
        )
    return response
