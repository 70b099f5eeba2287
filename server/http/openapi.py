"""The OpenAPI 3 document, generated from the routes and the models they declare.

Each operation lists the answers its route declares (a ``200`` when it declares no success)
and a ``default`` answer for every other status: problem details, which is what any error
from any route is (401, 413, 429, 431, 503... need not be repeated on every route).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sanic import Sanic

from server.core.schemas import Problem
from server.http.endpoint import Operation

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
JSON_MEDIA = "application/json"
Refs = dict[type[BaseModel], dict[str, Any]]


def build_openapi(app: Sanic[Any, Any]) -> dict[str, Any]:
    documented = list(_documented_routes(app))
    refs, schemas = _schemas({Problem} | {m for _, op in documented for m in _models(op)})
    paths: dict[str, dict[str, Any]] = {}
    for route, operation in documented:
        path = "/" + "/".join(_segment(part) for part in route.path.split("/") if part)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tinedy field-operations mobile API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "tinedy_access"},
                "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "tk_ API key"},
            },
        },
    }


def _documented_routes(app: Sanic[Any, Any]) -> Iterator[tuple[Any, Operation]]:
    for route in app.router.routes:
        operation: Operation | None = getattr(route_handler(route), "openapi", None)
        if operation is not None:
            yield route, operation


def _models(operation: Operation) -> set[type[BaseModel]]:
    declared = [operation.body, *operation.responses.values()]
    return {model for model in declared if model is not None}


def route_handler(route: Any) -> Any:
    """Our handler behind a route (Sanic wraps a WebSocket handler in a partial)."""
    handler = route.handler
    if isinstance(handler, partial) and handler.args:
        return handler.args[0]
    return handler


def _segment(part: str) -> str:
    return "{" + part[1:-1].split(":")[0] + "}" if part.startswith("<") else part


def _operation(route: Any, operation: Operation, refs: Refs) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": route_handler(route).__name__,
        "summary": operation.summary,
        "responses": {},
    }
    params = [
        {"name": param.name, "in": "path", "required": True, "schema": {"type": "string"}}
        for param in route.params.values()  # keyed by the segment's position
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema(by_alias=True)
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "schema": prop})
    if params:
        spec["parameters"] = params
    if operation.scope is not None:
        spec["security"] = [{"apiKey": []}]
        spec["x-scopes"] = list(operation.scope)
    elif operation.roles is not None:
        spec["security"] = [{"bearer": []}, {"cookie": []}]
        spec["x-roles"] = list(operation.roles)
    if operation.body is not None:
        spec["requestBody"] = {"required": True, **_content(refs[operation.body], JSON_MEDIA)}
    declared = operation.responses
    if not any(200 <= status < 300 for status in declared):
        declared = {200: None, **declared}
    for status, model in sorted(declared.items()):
        answer: dict[str, Any] = {"description": str(status)}
        if model is not None:
            answer.update(_content(refs[model], PROBLEM_MEDIA if model is Problem else JSON_MEDIA))
        spec["responses"][str(status)] = answer
    spec["responses"]["default"] = {
        "description": "Any other answer is an error: problem details (RFC 9457).",
        **_content(refs[Problem], PROBLEM_MEDIA),
    }
    return spec


def _content(ref: dict[str, Any], media: str) -> dict[str, Any]:
    return {"content": {media: {"schema": ref}}}


def _schemas(models: set[type[BaseModel]]) -> tuple[Refs, dict[str, Any]]:
    """Each model's reference, and every schema as a component. One pass over all models,
    so two models of one name (a notification's ``Receipt`` and a sync ``Receipt``) get
    distinct component names instead of one silently replacing the other."""
    ordered = sorted(models, key=lambda m: (m.__name__, m.__module__))
    by_mode, top = models_json_schema(
        [(model, "validation") for model in ordered], by_alias=True, ref_template=REF_TEMPLATE
    )
    refs = {model: by_mode[(model, "validation")] for model in ordered}
    return refs, dict(sorted(top.get("$defs", {}).items()))
