"""Each route's body limit, held before a byte of the body is read.

Sanic buffers a body before the handler runs; its ``REQUEST_MAX_SIZE`` is one number for the
whole app. So the app's is the smallest limit (``MAX_BODY_BYTES``, JSON) and, once a request
is routed and before its body is read (Sanic's ``http.routing.after`` signal), the route's own
applies: a declared ``Content-Length`` over it is refused at once (``413`` problem+json,
and the connection is closed rather than the body drained), and a chunked body is cut off
as soon as its running length passes it. Sign-in and every other unauthenticated route get
the JSON limit; only a sync batch (``SYNC_MAX_BODY_BYTES``) and a photo (``PHOTO_MAX_BYTES``)
get more. A streamed route (the bulk import) keeps a cap of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sanic import Request, Sanic
from sanic.http import Http

from server.config import Settings
from server.errors import PayloadTooLarge


class BodySize(StrEnum):
    JSON = "json"
    SYNC = "sync"
    PHOTO = "photo"


BODY_SIZES: dict[str, BodySize] = {
    "server.sync.endpoints.sync_changes": BodySize.SYNC,
    "server.photos.endpoints.put_upload": BodySize.PHOTO,
    "server.photos.endpoints.post_photo": BodySize.PHOTO,
}
"""The routes that take more than a JSON body, by ``module.handler`` (a route may also name
its own with ``endpoint(body_size=...)``)."""


def declared_body_size(module: str, name: str) -> BodySize:
    return BODY_SIZES.get(f"{module}.{name}", BodySize.JSON)


def hold_bodies_to_route_limits(app: Sanic[Any, Any], settings: Settings) -> None:
    """Register the check; the app's own limit becomes the JSON one."""
    limits = {
        BodySize.JSON: settings.max_body_bytes,
        BodySize.SYNC: settings.sync_max_body_bytes,
        BodySize.PHOTO: settings.photo_max_bytes,
    }
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes

    async def hold_to_route_limit(request: Request, handler: Any, **_: Any) -> None:
        if hasattr(handler, "is_stream"):
            return  # it reads its body as it comes, to a cap of its own
        limit = limits[getattr(handler, "body_size", BodySize.JSON)]
        stream = request.stream
        if isinstance(stream, Http):
            stream.request_max_size = limit  # a chunked body is cut off past it
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"Bodies are limited to {limit} bytes here.")

    app.signal("http.routing.after")(hold_to_route_limit)
