"""What a phone may send: the offline mutations of a sync batch and a check-in, validated.

A batch is read in two steps. The envelope (:class:`SyncBatch`) must be sound or the whole
request is a 422. Each mutation is then validated on its own (:func:`read_mutation`), so one
bad entry becomes a ``failed`` answer for its ``mutationId`` and never sinks the rest.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from server.checkins.schemas import CheckInFields
from server.core.inputs import (
    Input,
    MutationId,
    ObjectId,
    Prose,
    Rfc3339,
    Text,
    is_mutation_id,
)
from server.sync.rules import MutationRejected

MAX_MUTATIONS = 1000


class ChecklistTick(Input):
    item_id: ObjectId
    done: bool = Field(strict=True)


class PendingUpdate(Input):
    """A change to a job made offline, against the job ``version`` the phone last saw."""

    mutation_id: MutationId
    job_id: ObjectId
    base_version: int = Field(ge=0, le=2**31, strict=True)
    client_timestamp: Rfc3339
    status: Literal["en_route", "in_progress", "completed", "cancelled"] | None = None
    checklist: list[ChecklistTick] | None = Field(None, max_length=200)
    notes: Prose | None = Field(None, max_length=4000)

    @property
    def ticks(self) -> list[ChecklistTick]:
        return self.checklist or []

    @model_validator(mode="after")
    def _changes_something(self) -> PendingUpdate:
        if self.status is None and self.notes is None and not self.checklist:
            raise ValueError("give at least one of status, checklist or notes")
        return self


class BatchCheckIn(CheckInFields):
    mutation_id: MutationId
    job_id: ObjectId


class BatchPhoto(Input):
    """Attaches an uploaded photo (``photoId`` from its upload) to its job, in order with the
    phone's other changes."""

    mutation_id: MutationId
    job_id: ObjectId
    photo_id: ObjectId


class SyncBatch(BaseModel):
    """The envelope of ``POST /api/mobile/sync``; its entries are validated one by one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    device_id: Text = Field(min_length=1, max_length=128)
    device_time: Rfc3339 | None = None
    pending_updates: list[dict[str, Any]] = Field(default_factory=list)
    photos: list[dict[str, Any]] = Field(default_factory=list)
    check_ins: list[dict[str, Any]] = Field(default_factory=list)
    issues: list[dict[str, Any]] = Field(default_factory=list)
    remarks: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [*self.pending_updates, *self.photos, *self.check_ins, *self.issues, *self.remarks]

    @model_validator(mode="after")
    def _every_entry_named(self) -> SyncBatch:
        for entry in self.entries:
            mutation_id = entry.get("mutationId")
            if not isinstance(mutation_id, str) or not is_mutation_id(mutation_id):
                raise ValueError("every entry needs a mutationId (1-128 letters, digits, ._:~-)")
        return self

    @property
    def size(self) -> int:
        return len(self.entries)


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


def new_mutation_id() -> str:
    """A key for a write the client sent without one: it still gets a receipt."""
    return f"server-{uuid.uuid4()}"
