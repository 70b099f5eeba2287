"""The OpenAPI 3 document, generated from the routes and the models they declare."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import BaseModel
from sanic import Sanic

from server.api.endpoint import Operation

REF_TEMPLATE = "#/components/schemas/{model}"


def build_openapi(app: Sanic[Any, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = set()
    for route in app.router.routes:
        handler = route_handler(route)
        operation: Operation | None = getattr(handler, "openapi", None)
        if operation is None:
            continue
        path = "/" + "/".join(_segment(part) for part in route.path.split("/") if part)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, operation, models)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tinedy field-operations mobile API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _schemas(models),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "tinedy_access"},
            },
        },
    }


def route_handler(route: Any) -> Any:
    """Our handler behind a route (Sanic wraps a WebSocket handler in a partial)."""
    handler = route.handler
    if isinstance(handler, partial) and handler.args:
        return handler.args[0]
    return handler


def _segment(part: str) -> str:
    return "{" + part[1:-1].split(":")[0] + "}" if part.startswith("<") else part


def _operation(route: Any, operation: Operation, models: set[type[BaseModel]]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": route_handler(route).__name__,
        "summary": operation.summary,
        "responses": {},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.params
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema(by_alias=True)
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "schema": prop})
    if params:
        spec["parameters"] = params
    if operation.roles is not None:
        spec["security"] = [{"bearer": []}, {"cookie": []}]
        spec["x-roles"] = list(operation.roles)
    if operation.body is not None:
        models.add(operation.body)
        spec["requestBody"] = _content(operation.body, "application/json")
    for status, model in sorted(operation.responses.items()):
        answer: dict[str, Any] = {"description": str(status)}
        if model is not None:
            models.add(model)
            media = (
                "application/problem+json" if model.__name__ == "Problem" else "application/json"
            )
            answer.update(_content(model, media))
        spec["responses"][str(status)] = answer
    return spec


def _content(model: type[BaseModel], media: str) -> dict[str, Any]:
    return {"content": {media: {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}}}


def _schemas(models: set[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
