"""What the office CRM sends and reads back: one whole record per kind, keyed by its own ids.

Every kind answers ``{"<kind>": {...record, "externalId", "id", "version"}}``; ``id`` is the
product's own id (the one phones and dispatchers see), ``version`` goes up by one on every
change that writes, and ``If-Match: "<version>"`` makes a write conditional on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from server.checkins.schemas import Coordinates
from server.core.inputs import Input, Priority, Prose, Rfc3339, Text
from server.core.schemas import ApiModel, Location
from server.jobs.schemas import MAX_CREW

MAX_CHECKLIST = 50
ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~@+-]+$")]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Label = Annotated[Prose, Field(min_length=1, max_length=200)]
UpsertStatus = Literal["created", "updated", "unchanged"]


class BranchRecord(Input):
    name: Annotated[Text, Field(min_length=1, max_length=120)]


class TeamRecord(Input):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    branch_external_id: ExternalId


class StaffRecord(Input):
    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: Name
    phone: Text = Field("", max_length=40)
    locale: Literal["th", "en"] = "th"
    role: Literal["staff", "dispatcher", "admin"]
    branch_external_id: ExternalId | None = None
    team_external_id: ExternalId | None = None
    active: bool = Field(True, strict=True)

    @model_validator(mode="after")
    def _placed(self) -> StaffRecord:
        if self.role != "admin" and self.branch_external_id is None:
            raise ValueError("branchExternalId is required for staff and dispatchers")
        return self


class CustomerRecord(Input):
    name: Name
    phone: Text = Field("", max_length=40)
    line_id: Text = Field("", max_length=80)
    address: Prose = Field(min_length=1, max_length=500)
    location: Coordinates | None = None
    branch_external_id: ExternalId
    access_notes: Prose = Field("", max_length=2000)


class JobRecord(Input):
    customer_external_id: ExternalId
    service_type: Text = Field(min_length=1, max_length=60)
    scheduled_date: Rfc3339
    duration_minutes: int = Field(120, ge=15, le=24 * 60, strict=True)
    priority: Priority = "normal"
    notes: Prose = Field("", max_length=4000)
    checklist: list[Label] | None = Field(None, max_length=MAX_CHECKLIST)
    assignee_external_ids: list[ExternalId] | None = Field(
        None, max_length=MAX_CREW, description="The crew, lead first; omitted: keep it."
    )
    status: Literal["cancelled"] | None = None
    address: Prose | None = Field(
        None, min_length=1, max_length=500, description="Its own; omitted: the customer's."
    )
    location: Coordinates | None = None

    @model_validator(mode="after")
    def _location_has_an_address(self) -> JobRecord:
        if self.location is not None and self.address is None:
            raise ValueError("give the address of the location")
        return self


class Stamped(ApiModel):
    """What every kind's answer adds to its record."""

    external_id: str
    id: str
    version: int


class BranchOut(Stamped):
    name: str


class TeamOut(Stamped):
    name: str
    branch_external_id: str | None


class StaffOut(Stamped):
    email: str
    name: str
    phone: str
    locale: str
    role: str
    branch_external_id: str | None
    team_external_id: str | None
    active: bool
    has_password: bool


class CustomerOut(Stamped):
    name: str
    phone: str
    line_id: str
    address: str
    location: Location | None
    branch_external_id: str | None
    access_notes: str


class JobOut(Stamped):
    customer_external_id: str | None
    service_type: str
    scheduled_date: datetime
    duration_minutes: int
    priority: str
    notes: str
    checklist: list[str]
    assignee_external_ids: list[str]
    status: str
    address: str
    location: Location
    own_address: bool
    updated_at: datetime


class BranchAnswer(ApiModel):
    branch: BranchOut


class TeamAnswer(ApiModel):
    team: TeamOut


class StaffAnswer(ApiModel):
    staff: StaffOut


class CustomerAnswer(ApiModel):
    customer: CustomerOut


class JobAnswer(ApiModel):
    job: JobOut
