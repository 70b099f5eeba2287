"""The one check of an error answer: status, code and the RFC 9457 problem+json shape."""

from __future__ import annotations

from typing import Any

import httpx

from server.core.schemas import Problem
from tests.answers import parse_answer


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    parse_answer(Problem, body)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:tinedy:problem:{code}"
    assert "Traceback" not in response.text
    return body
