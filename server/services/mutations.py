"""What a phone may send: the offline mutations of a sync batch and a check-in, validated.

A batch is read in two steps. The envelope (:class:`SyncBatch`) must be sound or the whole
request is a 422. Each mutation is then validated on its own (:func:`read_mutation`), so one
bad entry becomes a ``failed`` answer for its ``mutationId`` and never sinks the rest.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from server.services.sync_rules import MutationRejected

MAX_MUTATIONS = 1000
MUTATION_ID_PATTERN = r"^[A-Za-z0-9._:~-]{1,128}$"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _rfc3339(value: object) -> datetime:
    """Only RFC 3339 with an offset: no bare dates, no epoch numbers, no local times."""
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("give an RFC 3339 time with an offset, e.g. 2026-11-24T09:30:00+07:00")
    try:
        instant = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        utc = instant.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError("not a real time") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time must be between 1900 and 2200")
    return utc


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]
MutationId = Annotated[str, Field(pattern=MUTATION_ID_PATTERN)]


class Input(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ChecklistTick(Input):
    item_id: str = Field(min_length=1, max_length=64)
    done: bool


class PendingUpdate(Input):
    """A change to a job made offline, against the job ``version`` the phone last saw."""

    mutation_id: MutationId
    job_id: str = Field(min_length=1, max_length=64)
    base_version: int = Field(ge=0, le=2**31)
    client_timestamp: Rfc3339
    status: Literal["en_route", "in_progress", "completed", "cancelled"] | None = None
    checklist: list[ChecklistTick] | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=4000)

    @property
    def ticks(self) -> list[ChecklistTick]:
        return self.checklist or []

    @model_validator(mode="after")
    def _changes_something(self) -> PendingUpdate:
        if self.status is None and self.notes is None and not self.checklist:
            raise ValueError("give at least one of status, checklist or notes")
        return self


class Location(Input):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class CheckInFields(Input):
    type: Literal["in", "out"]
    location: Location
    accuracy: float = Field(ge=0, le=100_000, allow_inf_nan=False)
    timestamp: Rfc3339


class CheckInRequest(CheckInFields):
    """``POST /api/mobile/jobs/{id}/checkin``: the job is in the path."""

    mutation_id: MutationId | None = None


class BatchCheckIn(CheckInFields):
    mutation_id: MutationId
    job_id: str = Field(min_length=1, max_length=64)


class PhotoAttachment(Input):
    mutation_id: MutationId
    job_id: str = Field(min_length=1, max_length=64)
    photo_id: str = Field(min_length=1, max_length=64)


class SyncBatch(BaseModel):
    """The envelope of ``POST /api/mobile/sync``; its entries are validated one by one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    device_id: str = Field(min_length=1, max_length=128)
    device_time: Rfc3339 | None = None
    pending_updates: list[dict[str, Any]] = Field(default_factory=list)
    photos: list[dict[str, Any]] = Field(default_factory=list)
    check_ins: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _every_entry_named(self) -> SyncBatch:
        for entry in [*self.pending_updates, *self.photos, *self.check_ins]:
            mutation_id = entry.get("mutationId")
            if not isinstance(mutation_id, str) or not is_mutation_id(mutation_id):
                raise ValueError("every entry needs a mutationId (1-128 letters, digits, ._:~-)")
        return self

    @property
    def size(self) -> int:
        return len(self.pending_updates) + len(self.photos) + len(self.check_ins)


ModelT = TypeVar("ModelT", bound=BaseModel)


def read_mutation(model: type[ModelT], entry: dict[str, Any]) -> ModelT:
    """One entry, validated; a bad one is rejected with every field's problem named."""
    try:
        return model.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MutationRejected("invalid_mutation", problems) from exc


def body_hash(kind: str, entry: dict[str, Any]) -> str:
    """What a mutation says, for telling a true replay from a reused ``mutationId``."""
    canonical = orjson.dumps({"kind": kind, **entry}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def is_mutation_id(raw: str) -> bool:
    return re.match(MUTATION_ID_PATTERN, raw) is not None


def new_mutation_id() -> str:
    """A key for a write the client sent without one: it still gets a receipt."""
    return f"server-{uuid.uuid4()}"
