"""HEAD wherever GET: the GET handler answers it, and the server sends what a GET would send
(status, ETag, caching headers, the Content-Length of the body) without the body.

Sanic routes HEAD only where it is declared; declaring it route by route would be forgotten,
so the factory calls :func:`answer_head_like_get` once every route is registered. Live streams
(Server-Sent Events, WebSockets) stay GET only. OpenAPI leaves HEAD implied.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from server.http.endpoint import Operation
from server.http.openapi import route_handler


def answer_head_like_get(app: Sanic[Any, Any]) -> None:
    """Before the router is finalised: every GET route also answers HEAD."""
    for route in app.router.routes:
        if "GET" in route.methods and not is_live_stream(route):
            route.methods = route.methods | {"HEAD"}


def is_live_stream(route: Any) -> bool:
    operation: Operation | None = getattr(route_handler(route), "openapi", None)
    return bool(route.extra.websocket) or (operation is not None and operation.stream)
