"""The error hierarchy and the one handler that renders every error as RFC 9457 problem+json.

    ApiError
    ├── BadRequest (400) ............ MalformedJson, InvalidCursor, InvalidRequest, TokenInUrl,
    │                                 PasswordLinkInvalid
    ├── Unauthorized (401) .......... InvalidCredentials, InvalidToken, SessionRevoked,
    │                                 RefreshTokenReused, InvalidApiKey
    ├── Forbidden (403) ............. CsrfCheckFailed, RoleForbidden, OriginRefused,
    │                                 SignatureInvalid, LinkExpired, ScopeForbidden
    ├── NotFound (404) .............. JobNotFound, TeamNotFound, DeviceNotFound, PhotoNotFound,
    │                                 SubscriptionNotFound, RouteNotFound, RecordNotFound,
    │                                 WebhookNotFound, PersonNotFound
    ├── MethodNotAllowed (405)
    ├── Conflict (409) .............. InvalidTransition, MutationIdReused, PhotoAlreadyUploaded,
    │                                 StaleNotice
    ├── PreconditionFailed (412) .... the record's version is not the If-Match one
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415) .. UnsupportedPhotoType
    ├── HeadersTooLarge (431)
    ├── PhotoUnreadable (422) ....... PhotoTypeMismatch, PhotoCorrupt, PhotoTooManyPixels
    ├── ValidationFailed (422) ...... carries ``errors: [{field, message}]``
    ├── RateLimited (429) ........... carries ``Retry-After``
    ├── DatabaseUnavailable (503) ... carries ``Retry-After``; also what a lost database
    │                                 connection becomes (see :func:`is_database_outage`);
    │                                 NotReady (/readyz) names the dependency in ``checks``
    └── PasswordChecksBusy (503) .... carries ``Retry-After``: every password check slot taken

The body is always::

    {"type": "urn:tinedy:problem:<code>", "title": "...", "status": 422,
     "detail": "...", "code": "<code>", "errors": [...]}   # errors only for validation

Sanic's own exceptions (unknown route, wrong method, oversize body) are mapped onto the same
shape; anything else is a 500 with a generic body and the stack trace only in the log.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg
import orjson
from sanic import HTTPResponse, Request
from sanic import exceptions as sanic_exceptions

from server.core.answers import Answer
from server.core.metrics import count_refused

log = logging.getLogger("tinedy.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}

    def extra(self) -> dict[str, Any]:
        return {}


class BadRequest(ApiError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedJson(BadRequest):
    code, title = "malformed_json", "Body is not valid JSON"


class InvalidCursor(BadRequest):
    code, title = "invalid_cursor", "Cursor is invalid"


class InvalidRequest(BadRequest):
    code, title = "invalid_request", "Request cannot be read"


class TokenInUrl(BadRequest):
    code, title = "token_in_url", "Tokens never go in URLs"


class PasswordLinkInvalid(BadRequest):
    code, title = "invalid_password_link", "This password link is used, expired or unknown"


class Unauthorized(ApiError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer", **(headers or {})})


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Email or password is wrong"


class InvalidToken(Unauthorized):
    code, title = "invalid_token", "Token is invalid or expired"


class SessionRevoked(Unauthorized):
    code, title = "session_revoked", "This device was signed out"


class RefreshTokenReused(Unauthorized):
    code, title = "refresh_token_reused", "Refresh token was already used"


class InvalidApiKey(Unauthorized):
    code, title = "invalid_api_key", "API key is missing, unknown or revoked"


class Forbidden(ApiError):
    status, code, title = 403, "forbidden", "Not allowed"


class SignatureInvalid(Forbidden):
    code, title = "invalid_signature", "This link's signature is not valid"


class LinkExpired(Forbidden):
    code, title = "link_expired", "This link has expired"


class CsrfCheckFailed(Forbidden):
    code, title = "csrf_check_failed", "Cross-site request refused"


class RoleForbidden(Forbidden):
    code, title = "role_forbidden", "Your role may not do this"


class OriginRefused(Forbidden):
    code, title = "origin_refused", "This origin may not open the stream"


class ScopeForbidden(Forbidden):
    code, title = "missing_scope", "This API key lacks the scope for this route"


class NotFound(ApiError):
    status, code, title = 404, "not_found", "Not found"


class JobNotFound(NotFound):
    code, title = "job_not_found", "Job not found"


class TeamNotFound(NotFound):
    code, title = "team_not_found", "Team not found"


class DeviceNotFound(NotFound):
    code, title = "device_not_found", "Device not found"


class PhotoNotFound(NotFound):
    code, title = "photo_not_found", "Photo not found"


class SubscriptionNotFound(NotFound):
    code, title = "subscription_not_found", "Push subscription not found"


class NotificationNotFound(NotFound):
    code, title = "notification_not_found", "Notification not found"


class AlertNotFound(NotFound):
    code, title = "alert_not_found", "Alert not found"


class RouteNotFound(NotFound):
    code, title = "route_not_found", "No such endpoint"


class RecordNotFound(NotFound):
    code, title = "record_not_found", "No record with this external id"


class WebhookNotFound(NotFound):
    code, title = "webhook_not_found", "No such webhook endpoint or delivery"


class PersonNotFound(NotFound):
    code, title = "person_not_found", "No such person"


class MethodNotAllowed(ApiError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(ApiError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The job cannot make that change from its status"


class MutationIdReused(Conflict):
    code, title = "mutation_id_reused", "This key was already used for a different change"


class PhotoAlreadyUploaded(Conflict):
    code, title = "photo_already_uploaded", "Other bytes were already uploaded for this photo"


class StaleNotice(Conflict):
    code, title = "stale_notice", "That is not the current privacy notice"


class PreconditionFailed(ApiError):
    status, code, title = 412, "version_mismatch", "The record changed since that version"


class PayloadTooLarge(ApiError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(ApiError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class UnsupportedPhotoType(UnsupportedMediaType):
    code, title = "unsupported_photo_type", "Photos must be JPEG, PNG, WebP or HEIC"


MAX_HEADER_BYTES = 8192
"""The request line and headers together (Sanic's default, set by the app factory): room for
a JWT and the session cookies several times over."""


class HeadersTooLarge(ApiError):
    status, code, title = 431, "headers_too_large", "Request header fields too large"


class PhotoUnreadable(ApiError):
    """A photo that is not what it claims, or cannot be decoded safely."""

    status, code, title = 422, "photo_unreadable", "The photo cannot be read"


class PhotoTypeMismatch(PhotoUnreadable):
    code, title = "photo_type_mismatch", "The bytes are not of the declared type"


class PhotoCorrupt(PhotoUnreadable):
    code, title = "photo_corrupt", "The photo is truncated or corrupt"


class PhotoTooManyPixels(PhotoUnreadable):
    code, title = "photo_too_many_pixels", "The photo has too many pixels"


class ValidationFailed(ApiError):
    status, code, title = 422, "validation_failed", "Request is invalid"

    def __init__(self, errors: Sequence[tuple[str, str]], detail: str = "") -> None:
        super().__init__(detail or "; ".join(f"{field}: {msg}" for field, msg in errors))
        self.errors = list(errors)

    def extra(self) -> dict[str, Any]:
        return {"errors": [{"field": field, "message": msg} for field, msg in self.errors]}


class RateLimited(ApiError):
    status, code, title = 429, "rate_limited", "Too many attempts"

    def __init__(self, retry_after: int, detail: str = "") -> None:
        seconds = max(1, retry_after)
        super().__init__(
            detail or f"Try again in {seconds} seconds.", headers={"Retry-After": str(seconds)}
        )


class DatabaseUnavailable(ApiError):
    status, code, title = 503, "database_unavailable", "Database unreachable"
    RETRY_AFTER_SECONDS = 5

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail, headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)})


class NotReady(DatabaseUnavailable):
    """/readyz while the database is down: ``checks`` says which dependency is down and how
    the others stand, in fixed words; why it failed is in the log, never in the body."""

    def __init__(self, checks: dict[str, str]) -> None:
        super().__init__("The database does not answer: this instance cannot serve requests.")
        self.checks = checks

    def extra(self) -> dict[str, Any]:
        return {"checks": self.checks}


class PasswordChecksBusy(ApiError):
    status, code, title = 503, "password_checks_busy", "Too many password checks at once"
    RETRY_AFTER_SECONDS = 1

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            detail or "Every password check is taken just now; try again in a second.",
            headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
        )


# The server is gone, restarting, refusing connections, or too slow to answer. asyncpg
# raises InternalClientError ("another operation is in progress") for a connection whose
# server sent FATAL (a shutdown) mid-query, before the socket's close was noticed.
_OUTAGE_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InternalClientError,
)


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means PostgreSQL cannot be reached: the driver's connection errors, or
    a socket error or timeout raised inside the driver (not, say, a full disk)."""
    if isinstance(exc, _OUTAGE_ERRORS):
        return True
    if isinstance(exc, asyncpg.InterfaceError):  # "connection is closed", "pool is closing"
        return "clos" in str(exc)
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is an OSError)
        frames = traceback.extract_tb(exc.__traceback__)
        return any("/asyncpg/" in frame.filename for frame in frames)
    return False


DATABASE_OUTAGE_DETAIL = "The database cannot be reached just now; try again shortly."

_SANIC_TO_API: tuple[tuple[type[Exception], type[ApiError]], ...] = (
    (sanic_exceptions.NotFound, RouteNotFound),
    (sanic_exceptions.MethodNotAllowed, MethodNotAllowed),
    (sanic_exceptions.PayloadTooLarge, PayloadTooLarge),
    (sanic_exceptions.BadRequest, InvalidRequest),
)


def as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, sanic_exceptions.PayloadTooLarge) and "header" in str(exc).lower():
        # Sanic reports an oversize request head as a 413 with this message.
        return HeadersTooLarge(
            f"The request line and headers exceed {MAX_HEADER_BYTES} bytes: "
            "send fewer or smaller cookies and headers."
        )
    if is_database_outage(exc):
        return DatabaseUnavailable(DATABASE_OUTAGE_DETAIL)
    for sanic_type, api_type in _SANIC_TO_API:
        if isinstance(exc, sanic_type):
            error = api_type(str(exc) if api_type is not RouteNotFound else "")
            error.headers.update(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
            return error
    return ApiError()


def problem_body(error: ApiError) -> bytes:
    body: dict[str, Any] = {
        "type": f"urn:tinedy:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        **error.extra(),
    }
    return orjson.dumps(body)


def problem_response(error: ApiError) -> HTTPResponse:
    return Answer(
        problem_body(error),
        status=error.status,
        headers={"Cache-Control": "no-store", **error.headers},
        content_type=PROBLEM_CONTENT_TYPE,
    )


async def handle_error(request: Request, exc: Exception) -> HTTPResponse:
    """The app's only exception handler: 4xx are quiet, 5xx are logged with their trace."""
    error = as_api_error(exc)
    count_refused(request, error.status)
    if isinstance(error, DatabaseUnavailable):  # an outage: one line each, not a trace each
        log.warning("%s %s: database unavailable (%r)", request.method, request.path, exc)
    elif error.status >= 500:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return problem_response(error)
