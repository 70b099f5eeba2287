"""Request and response shapes of the office's reads and writes."""

from __future__ import annotations

from pydantic import Field

from server.core.inputs import Text
from server.core.schemas import ApiModel, Location

MAX_CUSTOMERS = 50


class TeamUpdateAccepted(ApiModel):
    event_id: int


class StaffMember(ApiModel):
    id: str
    name: str
    phone: str
    team_id: str | None
    active: bool


class StaffList(ApiModel):
    staff: list[StaffMember]


class CustomerSearch(ApiModel):
    q: Text = Field("", max_length=100, description="A part of the customer's name.")
    limit: int = Field(20, ge=1, le=MAX_CUSTOMERS)


class CustomerEntry(ApiModel):
    id: str
    name: str
    phone: str
    address: str
    location: Location


class CustomerList(ApiModel):
    customers: list[CustomerEntry]
