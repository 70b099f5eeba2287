"""Request and response shapes of the public API (camelCase on the wire).

Requests are validated through these models, or through the domain's own input models (a
sync batch in ``sync/mutations.py``, dispatch writes in ``dispatch/service.py``), all
built on the primitive types of ``core/inputs.py``. Responses are written as plain
dicts for speed,
and the API tests validate real responses against these models, so the OpenAPI document
(generated from them) cannot drift from what the server sends."""

from __future__ import annotations

from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from server.core.inputs import Text

JobStatus = Literal[
    "pending", "assigned", "en_route", "in_progress", "on_hold", "completed", "cancelled"
]
ProblemReason = Literal["customer_absent", "no_access", "unsafe", "needs_reschedule", "other"]


RoleName = Literal["staff", "dispatcher", "admin"]  # the values of core.access.Role


MAX_PAGE = 200


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DeviceIn(ApiModel):
    """The phone or browser signing in; its ``id`` is the client's own stable identifier."""

    id: Text = Field(default_factory=lambda: f"anonymous-{uuid4()}", min_length=1, max_length=128)
    name: Text = Field("", max_length=120)
    platform: Text = Field("", max_length=40)


class FieldError(ApiModel):
    field: str
    message: str


class Problem(ApiModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class Location(ApiModel):
    lat: float | None
    lng: float | None
