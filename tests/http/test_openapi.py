"""The served OpenAPI document is one a client generator or a fuzzer can trust: path
parameters named as in the path, one schema per model even when two share a name, bodies
marked required, and every operation's errors documented as problem details."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def body_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]
    return resolve(spec, body["content"]["application/json"]["schema"]["$ref"])


def test_path_parameters_are_named_as_in_the_path(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        in_path = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == in_path, f"{method.upper()} {path}"


def test_models_sharing_a_name_keep_their_own_schemas(spec: dict[str, Any]) -> None:
    receipt = body_schema(spec, "/api/mobile/notifications/{notification_id}/receipts", "post")
    assert "event" in receipt["properties"]
    page = spec["paths"]["/api/mobile/sync/receipts"]["get"]["responses"]["200"]
    page_schema = resolve(spec, page["content"]["application/json"]["schema"]["$ref"])
    mutation_receipt = resolve(spec, page_schema["properties"]["receipts"]["items"]["$ref"])
    assert "mutationId" in mutation_receipt["properties"]


def test_schema_names_are_public_names_not_module_paths(spec: dict[str, Any]) -> None:
    """A name a client generator turns into a type must not change when a module moves."""
    names = spec["components"]["schemas"]
    assert [name for name in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)] == []


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    text = str(spec)
    for name in set(re.findall(r"#/components/schemas/([\w.-]+)", text)):
        assert name in spec["components"]["schemas"], name


def test_bodies_are_required_and_errors_are_problem_details(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        label = f"{method.upper()} {path}"
        if "requestBody" in operation:
            assert operation["requestBody"]["required"] is True, label
        answers = operation["responses"]
        assert any(status.startswith("2") for status in answers), label
        assert "application/problem+json" in answers["default"]["content"], label
