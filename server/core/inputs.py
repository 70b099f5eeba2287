"""The primitive types of what clients send, shared by every request model: text that the
database can store, RFC 3339 times, client keys and ids.

Strict where a lenient parse would store something the client never meant (``true`` as a
longitude, ``"no"`` as a tick): numbers and booleans must arrive as JSON numbers and booleans.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

Priority = Literal["normal", "high", "urgent"]
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MUTATION_ID = re.compile(r"[A-Za-z0-9._:~-]{1,128}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")
LINE_BREAKS = frozenset("\n\r\t")


def in_range(instant: datetime) -> datetime:
    """Times the database and every client can hold: 1900 to 2200."""
    try:
        utc = instant.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time must be between 1900 and 2200")
    return instant


def _rfc3339(value: object) -> datetime:
    """Only RFC 3339 with an offset: no bare dates, no epoch numbers, no local times."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("give an RFC 3339 time with an offset, e.g. 2026-11-24T09:30:00+07:00")
    try:
        instant = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("not a real time") from exc
    return in_range(instant).astimezone(UTC)


def _single_line(value: str) -> str:
    """No control characters: PostgreSQL refuses NUL, and no name or id needs the others."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def _prose(value: str) -> str:
    """Notes and labels may break lines; no other control character (PostgreSQL refuses NUL)."""
    if any((ord(ch) < 32 and ch not in LINE_BREAKS) or ord(ch) == 127 for ch in value):
        raise ValueError("control characters other than line breaks are not allowed")
    return value


def as_uuid(value: object) -> str | None:
    """``value`` as a UUID in its one spelling, or None when it is not one."""
    try:
        return None if value is None else str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _canonical_id(value: str) -> str:
    """A UUID in its one spelling (a key's fingerprint must not depend on letter case);
    anything else as given: it names no job, which the caller is told per mutation."""
    return as_uuid(value) or value


def is_mutation_id(raw: str) -> bool:
    return MUTATION_ID.fullmatch(raw) is not None


Text = Annotated[str, AfterValidator(_single_line)]
Prose = Annotated[str, AfterValidator(_prose)]
Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]
MutationId = Annotated[str, Field(pattern=f"^{MUTATION_ID.pattern}$"), AfterValidator(_single_line)]
ObjectId = Annotated[
    str,
    Field(min_length=1, max_length=64),
    AfterValidator(_single_line),
    AfterValidator(_canonical_id),
]


class Input(BaseModel):
    """A request model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
