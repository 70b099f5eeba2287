"""``/api/mobile/auth``: sign in, refresh, sign out, and passwords (set from a one-time
link, forgotten, changed)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.auth import password_links
from server.auth import service as auth_service
from server.auth.schemas import (
    ChangePasswordRequest,
    ForgotPasswordRequest,
    LoginRequest,
    LoginResponse,
    OfflineKeyOut,
    RefreshRequest,
    SetPasswordRequest,
)
from server.auth.service import DeviceInfo, IssuedSession, SignInRules
from server.auth.tokens import DEVICE_TOKEN_SECONDS
from server.context import app_context
from server.core.access import ANY_ROLE, Principal
from server.core.answers import Answer
from server.core.schemas import Problem
from server.errors import InvalidToken, Unauthorized
from server.http.endpoint import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    authorised,
    client_address,
    endpoint,
    require_same_origin,
)
from server.http.json_io import json_response, read_json
from server.http.rate_limits import RouteClass

auth_routes = Blueprint("auth", url_prefix="/api/mobile/auth")
AUTH_COOKIE_PATH = "/api/mobile/auth"  # the refresh and device cookies go to these routes only
DEVICE_COOKIE = "tinedy_device"
SIGNED_OUT_DATA = '"cache", "storage"'
"""What a browser wipes at sign-out. Not ``"cookies"``: the session cookies are deleted one
by one, and the device cookie stays, so the owner's next sign-in keeps its own budget."""
REVOKED_DATA = '"cache", "cookies", "storage"'
"""What a browser wipes when its session had already ended (revoked: a lost phone), device
cookie included."""


def device_budget(request: Request) -> str | None:
    """A browser holding a valid device cookie spends the sign-in route's request budget of
    its own, not its address's: an attacker flooding from the owner's address (a carrier NAT,
    an office Wi-Fi) does not hold the owner back. One signature check, no database."""
    token = request.cookies.get(DEVICE_COOKIE)
    if not token:
        return None
    try:
        return f"device:{app_context(request).signer.device_cookie_nonce(token)}"
    except InvalidToken:
        return None


@auth_routes.post("/login")
@endpoint(
    "Sign in a device; also sets the browser session cookies and a device cookie "
    "(tinedy_device, a year, path /api/mobile/auth) whose later sign-ins are throttled on "
    "its own budget, not the address's.",
    roles=None,
    rate_class=RouteClass.SIGN_IN,
    budget_key=device_budget,
    body=LoginRequest,
    responses={
        200: LoginResponse,
        401: Problem,
        413: Problem,
        422: Problem,
        429: Problem,
        503: Problem,
    },
)
async def login(request: Request) -> HTTPResponse:
    ctx = app_context(request)
    body = read_json(request, LoginRequest)
    session = await auth_service.login(
        body.email,
        body.password,
        DeviceInfo(body.device.id, body.device.name, body.device.platform),
        client_address(request),
        ctx.signer,
        ctx.throttle,
        SignInRules.of(ctx.settings),
        body.device_token or request.cookies.get(DEVICE_COOKIE),
    )
    return _session_response(request, session)


@auth_routes.post("/refresh")
@endpoint(
    "Spend a refresh token for a new pair; a spent token signs the device out.",
    roles=None,
    rate_class=RouteClass.SIGN_IN,
    body=RefreshRequest,
    responses={200: LoginResponse, 401: Problem, 429: Problem},
)
async def refresh_session(request: Request) -> HTTPResponse:
    token = _refresh_token(request)
    if token is None:
        raise Unauthorized("Send refreshToken in the body.")
    session = await auth_service.refresh(token, app_context(request).signer)
    return _session_response(request, session)


@auth_routes.post("/logout")
@endpoint(
    "Sign this device out: with its access token, or with its refresh token when the access "
    "token has expired.",
    roles=None,
    rate_class=RouteClass.SIGN_IN,
    body=RefreshRequest,
    responses={204: None, 401: Problem},
)
async def logout(request: Request) -> HTTPResponse:
    signer = app_context(request).signer
    try:
        if "authorization" in request.headers or request.cookies.get(ACCESS_COOKIE):
            await auth_service.logout(authorised(request, ANY_ROLE))
        elif (token := _refresh_token(request)) is not None:
            await auth_service.logout_with_refresh(token, signer)
        else:
            raise Unauthorized("Send the access token, or refreshToken in the body.")
    except Unauthorized as refused:
        # Signed out already (revoked, expired): the browser still wipes what it kept.
        refused.headers["Clear-Site-Data"] = REVOKED_DATA
        raise
    # A browser wipes what the app kept offline (caches, IndexedDB outbox, service worker).
    headers = {"Cache-Control": "no-store", "Clear-Site-Data": SIGNED_OUT_DATA}
    response = Answer(status=204, headers=headers)
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path=AUTH_COOKIE_PATH)
    return response


@auth_routes.post("/set-password")
@endpoint(
    "Set a password with a one-time invite or reset link's token; every session of the "
    "person ends.",
    roles=None,
    rate_class=RouteClass.SIGN_IN,
    body=SetPasswordRequest,
    responses={204: None, 400: Problem, 422: Problem, 429: Problem},
)
async def set_password(request: Request) -> HTTPResponse:
    body = read_json(request, SetPasswordRequest)
    await password_links.set_password(
        body.token, body.password, client_address(request), app_context(request).throttle
    )
    return Answer(status=204, headers={"Cache-Control": "no-store"})


@auth_routes.post("/forgot-password")
@endpoint(
    "Ask for a reset link: always 202, whether or not the account exists; the office sends "
    "the link.",
    roles=None,
    rate_class=RouteClass.SIGN_IN,
    body=ForgotPasswordRequest,
    responses={202: None, 422: Problem, 429: Problem},
)
async def forgot_password(request: Request) -> HTTPResponse:
    body = read_json(request, ForgotPasswordRequest)
    await password_links.request_reset(
        body.email, client_address(request), app_context(request).throttle
    )
    return Answer(status=202, headers={"Cache-Control": "no-store"})


@auth_routes.post("/change-password")
@endpoint(
    "Change one's own password; the person's other devices are signed out, this one stays.",
    roles=ANY_ROLE,
    body=ChangePasswordRequest,
    responses={204: None, 401: Problem, 422: Problem, 429: Problem},
)
async def change_password(request: Request, principal: Principal) -> HTTPResponse:
    body = read_json(request, ChangePasswordRequest)
    await password_links.change_password(
        principal,
        body.current_password,
        body.new_password,
        client_address(request),
        app_context(request).throttle,
    )
    return Answer(status=204, headers={"Cache-Control": "no-store"})


@auth_routes.get("/offline-key")
@endpoint(
    "This device's key for sealing what the app keeps offline (AES-GCM); never cached, and "
    "refused once the device is revoked.",
    roles=ANY_ROLE,
    responses={200: OfflineKeyOut, 401: Problem},
)
async def offline_key(request: Request, principal: Principal) -> HTTPResponse:
    key = await auth_service.offline_key(principal, app_context(request).offline_keys)
    return json_response(key.as_json())


def _refresh_token(request: Request) -> str | None:
    """From the JSON body, else from the browser's cookie (which must pass the CSRF check)."""
    if request.body:
        token = read_json(request, RefreshRequest).refresh_token
        if token is not None:
            return token
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie:
        require_same_origin(request)
        return str(cookie)
    return None


def _session_response(request: Request, session: IssuedSession) -> HTTPResponse:
    settings = app_context(request).settings
    secure = settings.cookie_secure == "always" or (
        settings.cookie_secure == "auto" and request.scheme == "https"
    )
    body = {
        "accessToken": session.access_token,
        "refreshToken": session.refresh_token,
        "expiresIn": session.expires_in,
        "user": session.user,
    }
    cookies = [
        (ACCESS_COOKIE, session.access_token, "/", settings.access_token_seconds),
        (
            REFRESH_COOKIE,
            session.refresh_token,
            AUTH_COOKIE_PATH,
            settings.refresh_token_seconds,
        ),
    ]
    if session.device_token is not None:
        body["deviceToken"] = session.device_token
        cookies.append(
            (DEVICE_COOKIE, session.device_token, AUTH_COOKIE_PATH, DEVICE_TOKEN_SECONDS)
        )
    response = json_response(body)
    for name, value, path, max_age in cookies:
        response.add_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            httponly=True,
            samesite="Strict",
            secure=secure,
        )
    return response
