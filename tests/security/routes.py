"""The app's routes as the security tests walk them: every method and path the router
knows, the ``endpoint`` metadata each wears, and a URL to call it by."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sanic import Sanic

from server.http.endpoint import Operation
from server.http.openapi import route_handler

PARAMETER = re.compile(r"<([^:>]+)(?::[^>]+)?>")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the router spells it: /api/mobile/jobs/<job_id:str>
    operation: Operation | None
    websocket: bool

    @property
    def has_id(self) -> bool:
        return "<" in self.path

    @property
    def roles(self) -> tuple[str, ...] | None:
        return self.operation.roles if self.operation else None

    @property
    def scopes(self) -> tuple[str, ...] | None:
        """The API-key scopes of an integration route (any one of them lets a key in)."""
        return self.operation.scope if self.operation else None

    def url(self, value: str | None = None) -> str:
        """The path with every parameter filled (a fresh UUID unless ``value`` is given)."""
        return PARAMETER.sub(lambda _: value or str(uuid.uuid4()), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def routes(app: Sanic[Any, Any]) -> list[Route]:
    """Every (method, path) the router answers, HEAD and OPTIONS aside."""
    found = []
    for route in app.router.routes:
        handler = route_handler(route)
        operation = getattr(handler, "openapi", None)
        websocket = bool(route.extra.websocket)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append(Route(method, "/" + route.path, operation, websocket))
    return sorted(found, key=str)


def key(route: Route) -> tuple[str, str]:
    return route.method, route.path
