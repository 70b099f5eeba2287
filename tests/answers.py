"""Answers read as the published schema says.

The API writes plain dicts for speed and publishes pydantic models as its OpenAPI document;
tests read real answers through :func:`parse_answer`, which refuses a field the model does
not declare (at any depth) as well as a value it does not allow, so the document cannot lag
what the server sends.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)


def parse_answer(model: type[Model], body: Any) -> Model:
    return model.model_validate(body, extra="forbid")
