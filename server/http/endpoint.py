"""The one decorator every route wears: who may call it, how much it may call (its rate
limits, :mod:`server.http.rate_limits`), how big a body it takes
(:mod:`server.http.body_limits`), what OpenAPI says about it, its request metrics, its
``Server-Timing`` header and its security headers (:mod:`server.http.security_headers`).

Authentication happens here for every route that names ``roles`` (people, by their access
token), a ``scope`` (the office CRM, by an API key) or a ``permit`` (a signed URL that is its
own permission: the photo upload URL), so no handler can forget it; a permit is checked
before the body is read (:mod:`server.http.body_limits`). People and keys never mix: a
user's token is refused on a key's route and a key on a user's. Browsers authenticate with
the HttpOnly session cookie; an unsafe request carried by that cookie must also prove it came
from our own pages (same-origin ``Origin`` or ``Sec-Fetch-Site``, or an ``X-Requested-With``
header, which no cross-site form can send).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel
from sanic import HTTPResponse, Request

from server.core.access import ANY_ROLE, Principal, Role
from server.core.metrics import observe
from server.core.timing import end_request, start_request
from server.core.writes import track_writes, wrote_changes
from server.errors import (
    ApiError,
    CsrfCheckFailed,
    InvalidApiKey,
    RoleForbidden,
    Unauthorized,
    as_api_error,
)
from server.http.body_limits import BodySize, declared_body_size
from server.http.rate_limits import RateLimits, RouteClass, client_prefix, declared_class
from server.http.request_log import give_request_id
from server.http.security_headers import secure

log = logging.getLogger("tinedy.api")

ACCESS_COOKIE = "tinedy_access"
REFRESH_COOKIE = "tinedy_refresh"
CLIENT_CLOSED = 499  # nginx's code for a request the client abandoned
NOT_MODIFIED = 304
"""A 304 goes without the RateLimit fields: a cache copies a 304's fields onto the answer it
kept (RFC 9111, 4.3.4), which would then show stale counts, and it is the feed's most frequent
answer, where each byte and header costs most (measured: 9 us of a 110 us request)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[..., Awaitable[HTTPResponse | None]]  # None: a WebSocket
Admission = tuple[tuple[Any, ...], dict[str, str] | None]
"""What the handler is passed before its own arguments, and the ``RateLimit`` headers."""


class Holder(Protocol):
    """Who spends a device's and a person's budgets: a signed-in person (their
    :class:`~server.core.access.Principal`) or what a signed URL names (an upload grant)."""

    @property
    def device_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one route. A ``stream`` is an answer whose headers
    leave before its handler ends (Server-Sent Events, the bulk import's NDJSON): no header can
    be added after, and a streamed GET answers GET only (a HEAD would hold the stream open)."""

    summary: str
    roles: tuple[Role, ...] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    stream: bool = False
    scope: tuple[str, ...] | None = None
    rate_class: RouteClass | None = None


def endpoint(
    summary: str,
    *,
    roles: tuple[Role, ...] | None = ANY_ROLE,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    stream: bool = False,
    scope: str | tuple[str, ...] | None = None,
    rate_class: RouteClass | None = None,
    body_size: BodySize | None = None,
    permit: Callable[[Request], Holder] | None = None,
    budget_key: Callable[[Request], str | None] | None = None,
) -> Callable[[Handler], Handler]:
    """Document a handler and pass it the authenticated caller: the person (unless ``roles``
    is None), for a route of the integration API the API key holding ``scope``, or what its
    ``permit`` reads from its signed URL (no I/O; it raises when the URL is forged or lapsed),
    once a request is spent from the caller's budget of ``rate_class``. A permit's holder
    spends per device and per person, as a signed-in person does. Its answer (or its error)
    carries ``Server-Timing`` and the ``RateLimit`` headers.

    ``rate_class`` defaults to ``integration`` for a key's route, else to the class
    :data:`~server.http.rate_limits.WRITES_BY_MODULE` names, else ``reads`` for a person's
    GET and ``writes`` for their other methods; a public route is limited (per client
    address, or by what ``budget_key`` names, when it names anything) only when it names a
    class. ``body_size`` defaults to JSON's (or
    :data:`~server.http.body_limits.BODY_SIZES`)."""
    scopes = (scope,) if isinstance(scope, str) else scope
    if permit is not None and (roles is not None or scopes is not None):
        raise TypeError("a route's permit is its whole authentication: no roles or scope")
    admitted_early = permit is not None

    def decorate(handler: Handler) -> Handler:
        module, name = handler.__module__, handler.__name__
        by_module = declared_class(module, name)
        declared = RouteClass.INTEGRATION if scopes is not None else rate_class
        operation = Operation(
            summary,
            None if scopes else roles,
            body,
            query,
            responses or {},
            stream,
            scopes,
            declared,
        )

        async def admit_caller(request: Request) -> Admission:
            return await admit(request, scopes, roles, permit, declared, by_module, budget_key)

        @wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            timings, timing_token = start_request()
            give_request_id(request)
            status = 500
            answer: HTTPResponse | ApiError | None = None
            limits: dict[str, str] | None = None
            track_writes()
            try:
                if admitted_early and hasattr(request.ctx, "admission"):
                    caller, limits = request.ctx.admission
                else:
                    caller, limits = await admit(
                        request, scopes, roles, permit, declared, by_module, budget_key
                    )
                answer = response = await handler(request, *caller, *args, **kwargs)
                status = response.status if response is not None else streamed_status(request)
                return response
            except asyncio.CancelledError:
                status = CLIENT_CLOSED  # the client hung up (a stream ends this way)
                raise
            except Exception as exc:
                status = as_api_error(exc).status
                answer = exc if isinstance(exc, ApiError) else None
                raise
            finally:
                observe(request, status, time.perf_counter() - timings.started)
                if wrote_changes():
                    await see_own_write(request)
                if answer is not None and not stream:
                    answer.headers["Server-Timing"] = timings.header()
                    if limits is not None and answer.status != NOT_MODIFIED:
                        answer.headers.update(limits)
                    if not isinstance(answer, ApiError):  # the error handler secures those
                        secure(request, answer)
                end_request(timing_token)

        wrapped.__dict__["openapi"] = operation
        wrapped.__dict__["body_size"] = body_size or declared_body_size(module, name)
        if permit is not None:  # no body is read for one who holds no permit
            wrapped.__dict__["admit_before_body"] = admit_caller
        return wrapped

    return decorate


async def admit(
    request: Request,
    scopes: tuple[str, ...] | None,
    roles: tuple[Role, ...] | None,
    permit: Callable[[Request], Holder] | None,
    declared: RouteClass | None,
    by_module: RouteClass | None,
    budget_key: Callable[[Request], str | None] | None = None,
) -> Admission:
    """Authenticate the caller and spend one request of its budget: what the handler is
    passed before its own arguments (the key's holder, the person, the permit's holder, or
    nothing), and the ``RateLimit`` headers for the answer (None for a route without limits)."""
    limits = rate_limits_of(request)
    if scopes is not None:
        key = await gate_of(request).authenticate_key(api_key_of(request), scopes)
        return (key,), await limits.spend_one(RouteClass.INTEGRATION, key.key_id)
    holder = holder_of(request, roles, permit)
    if holder is not None:
        if declared is None and request.method in SAFE_METHODS:  # the hot path: no await
            return (holder,), limits.spend_read(holder.device_id, holder.user_id)
        route_class = class_of(request, declared, by_module, RouteClass.READS)
        spent = await limits.spend_person(
            route_class or RouteClass.WRITES, holder.device_id, holder.user_id
        )
        return (holder,), spent
    route_class = class_of(request, declared, by_module, None)
    if route_class is None:
        return (), None
    key = budget_key(request) if budget_key is not None else None
    return (), await limits.spend_one(route_class, key or client_prefix(client_address(request)))


def holder_of(
    request: Request, roles: tuple[Role, ...] | None, permit: Callable[[Request], Holder] | None
) -> Holder | None:
    """Who spends per device and per person: what the route's signed URL names, the signed-in
    person, or no one (a public route)."""
    if permit is not None:
        return permit(request)
    return authorised(request, roles) if roles is not None else None


def class_of(
    request: Request,
    declared: RouteClass | None,
    by_module: RouteClass | None,
    safe: RouteClass | None,
) -> RouteClass | None:
    """The route's class for this request: the one it names, else ``safe`` for a GET (reads
    for a person, none for a public route), else its module's (a write)."""
    if declared is not None:
        return declared
    return safe if request.method in SAFE_METHODS else by_module


def client_address(request: Request) -> str:
    """The client's address, as the proxies in front say it (``PROXIES_COUNT``)."""
    return request.remote_addr or request.ip


def streamed_status(request: Request) -> int:
    """The status of an answer a handler sent itself (``request.respond``) and did not return,
    or 101 for a WebSocket."""
    sent = getattr(request.stream, "response", None)
    return int(sent.status) if sent is not None else 101


def authorised(request: Request, roles: tuple[Role, ...]) -> Principal:
    principal = principal_of(request)
    if principal.role not in roles:
        raise RoleForbidden()
    return principal


async def see_own_write(request: Request) -> None:
    """After a write, read the change log at once: this worker's next answer reflects it
    (a signed-out device is refused, a feed has its new version) without waiting for the poll.
    A failed read must not replace the answer: the poll will catch up.
    """
    try:
        await gate_of(request).catch_up()
    except Exception:
        log.exception("reading the change log after a write failed")


class Gate(Protocol):
    """What the decorator needs of the app (its context): who holds a token, and a fresh
    read of the change log after a write."""

    def authenticate(self, token: str) -> Principal: ...

    async def authenticate_key(self, key: str, scopes: tuple[str, ...]) -> Any: ...

    async def catch_up(self) -> None: ...


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.ctx.tinedy
    return gate


def rate_limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.ctx.tinedy.rate_limits
    return limits


def principal_of(request: Request) -> Principal:
    token, by_cookie = presented_token(request)
    principal = gate_of(request).authenticate(token)
    if by_cookie:
        require_same_origin(request)
    return principal


def api_key_of(request: Request) -> str:
    """The API key of a server-to-server request: the Authorization header only."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise InvalidApiKey("Send Authorization: Bearer <API key>.")
    return key.strip()


def presented_token(request: Request) -> tuple[str, bool]:
    """The access token and whether it came in the session cookie (else the header)."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use the Authorization: Bearer <accessToken> scheme.")
        return token.strip(), False
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        raise Unauthorized("Sign in first.")
    return cookie, True


def require_same_origin(request: Request) -> None:
    """CSRF check for cookie-carried unsafe requests."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return
        raise CsrfCheckFailed("Request came from another site.")
    origin = request.headers.get("origin")
    if origin is not None:
        if urlsplit(origin).netloc == request.host:
            return
        raise CsrfCheckFailed("Request came from another origin.")
    if request.headers.get("x-requested-with"):
        return
    raise CsrfCheckFailed("Send Origin or X-Requested-With with cookie-authenticated requests.")
