"""What every upsert by external id shares: the outcome, and ``If-Match`` on the version.

An upsert compares the whole record it is given with what is stored: nothing differs, nothing
is written (same version, no change-log row, no event); else one write, one version up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.errors import PreconditionFailed
from server.integration.schemas import UpsertStatus

ENTITY_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')


@dataclass(frozen=True, slots=True)
class Upserted:
    """One upsert's outcome: ``record`` is the answer's camelCase record (with
    ``externalId``, ``id`` and ``version``)."""

    status: UpsertStatus
    record: dict[str, Any]

    @property
    def http_status(self) -> int:
        return 201 if self.status == "created" else 200


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names: ``"3"``, ``W/"3"`` or ``3``; ``*`` or no
    header: any. Anything else can match no version."""
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    found = ENTITY_TAG.match(if_match)
    return int(found.group(1)) if found else -1


def check_version(stored: dict[str, Any] | None, expected: int | None) -> None:
    """412 unless the stored record is at ``expected`` (when one is expected)."""
    if expected is None:
        return
    if stored is None or int(stored["version"]) != expected:
        have = "no record" if stored is None else f"version {stored['version']}"
        raise PreconditionFailed(f"If-Match names version {expected}; there is {have}.")


def entity_tag(version: int) -> str:
    return f'"{version}"'
