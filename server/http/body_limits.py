"""Each route's body limit, held before a byte of the body is read.

Sanic buffers a body before the handler runs; its ``REQUEST_MAX_SIZE`` is one number for the
whole app. So the app's is the smallest limit (``MAX_BODY_BYTES``, JSON), and the app's
request class (:class:`LimitedRequest`) holds a routed request to its route's own limit as
Sanic asks it for the body (``receive_body``, which Sanic's docs name as the place for this):
a declared ``Content-Length`` over it is refused at once (``413`` problem+json with
``Connection: close``: the connection is closed rather than the body drained), and a chunked
body is cut off as soon as its running length passes it. A request without a body (every GET,
the feed's hot path) pays nothing. Sign-in and every other unauthenticated route get the JSON
limit; only a sync batch (``SYNC_MAX_BODY_BYTES``) and a photo (``PHOTO_MAX_BYTES``, with room
for a form's wrapping around it) get more. A streamed route (the bulk import) reads its body
itself, to a cap of its own.

A route whose URL is its own permission (the photo upload URL, which takes a whole photo
from a caller with no other credentials) also admits its caller here, before the body (its
``admit_before_body``, from the ``endpoint`` decorator's ``permit``: the signature checked, a
budget spent): a forged or lapsed URL or a spent budget is answered at once, with
``Connection: close``, the body unread, so no one makes the server buffer a photo's worth of
bytes without a permission.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sanic import Request
from sanic.http import Http

from server.config import Settings
from server.errors import PayloadTooLarge


class BodySize(StrEnum):
    JSON = "json"
    SYNC = "sync"
    PHOTO = "photo"
    PHOTO_FORM = "photo_form"


FORM_ROOM = 64 * 1024
"""What a multipart form adds around its file (boundaries, part headers, the other fields):
a photo of exactly ``PHOTO_MAX_BYTES`` sent as a form still fits."""


BODY_SIZES: dict[str, BodySize] = {
    "server.sync.endpoints.sync_changes": BodySize.SYNC,
    "server.photos.endpoints.put_upload": BodySize.PHOTO,
    "server.photos.endpoints.post_photo": BodySize.PHOTO_FORM,
}
"""The routes that take more than a JSON body, by ``module.handler`` (a route may also name
its own with ``endpoint(body_size=...)``)."""


def declared_body_size(module: str, name: str) -> BodySize:
    return BODY_SIZES.get(f"{module}.{name}", BodySize.JSON)


def limits_of(settings: Settings) -> dict[BodySize, int]:
    """Each size's bytes: the app's ``BODY_LIMITS`` (its ``REQUEST_MAX_SIZE`` is JSON's)."""
    return {
        BodySize.JSON: settings.max_body_bytes,
        BodySize.SYNC: settings.sync_max_body_bytes,
        BodySize.PHOTO: settings.photo_max_bytes,
        BodySize.PHOTO_FORM: settings.photo_max_bytes + FORM_ROOM,
    }


def body_limits(app_config: Any) -> dict[BodySize, int]:
    """Each size's bytes, from the app's config."""
    limits: dict[BodySize, int] = app_config.BODY_LIMITS
    return limits


class LimitedRequest(Request):
    """A request that is held to its route's body limit, and whose route may admit its caller
    (``request.ctx.admission``), before its body is read."""

    async def receive_body(self) -> None:
        route = self.route
        if route is not None and not self.body:
            handler = route.handler
            limit = body_limits(self.app.config)[getattr(handler, "body_size", BodySize.JSON)]
            stream = self.stream
            if isinstance(stream, Http):
                stream.request_max_size = limit  # a chunked body is cut off past it
            try:
                self._refuse_over(limit)
                admit = getattr(handler, "admit_before_body", None)
                if admit is not None:
                    self.ctx.admission = await admit(self)
            except Exception:
                if isinstance(stream, Http):
                    stream.keep_alive = False  # the unread body ends the connection: say so
                raise
        await super().receive_body()  # type: ignore[no-untyped-call]

    def _refuse_over(self, limit: int) -> None:
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"Bodies are limited to {limit} bytes here.")
