"""Whom a change-log row concerns, read the same way everywhere: the feed versions it raises,
the live streams and pushes that hear it, and the sync feeds that find it.

A job's row names its crew after the change (``payload.crew``, lead first) and those the
change took the job from (``payload.left``); its columns keep the lead (``assignee_id``) and a
lead who left (``previous_assignee_id``). Everyone it names is also written to
``change_member`` beside it (``left`` true for those it took the job from), which each
person's sync and live replay walk through one index, ``(user_id, change_id)``. Rows logged
before crews name only the two columns (the migration wrote their members).
"""

from __future__ import annotations

from typing import Any

from server.core.access import ALL_SCOPE, branch_scope, user_scope


def crew_of_row(row: dict[str, Any]) -> list[str]:
    """The job's crew after the change, lead first."""
    payload = row.get("payload") or {}
    crew = payload.get("crew")
    if isinstance(crew, list):
        return [str(user_id) for user_id in crew]
    return [] if row.get("assignee_id") is None else [str(row["assignee_id"])]


def left_of_row(row: dict[str, Any]) -> list[str]:
    """Those the change took the job from."""
    payload = row.get("payload") or {}
    left = payload.get("left")
    if isinstance(left, list):
        return [str(user_id) for user_id in left]
    previous = row.get("previous_assignee_id")
    if previous is None or str(previous) == str(row.get("assignee_id")):
        return []
    return [str(previous)]


def people_of_row(row: dict[str, Any]) -> list[str]:
    """Everyone the row concerns: the crew, then those who left."""
    return [*crew_of_row(row), *left_of_row(row)]


def members_of_row(row: dict[str, Any]) -> list[tuple[str, bool]]:
    """The ``change_member`` entries of a row: each person it concerns, with whether the
    change took the job from them."""
    return [
        *((user_id, False) for user_id in crew_of_row(row)),
        *((user_id, True) for user_id in left_of_row(row)),
    ]


def scopes_of(rows: list[dict[str, Any]]) -> set[str]:
    """The feed scopes ``rows`` (job changes) concern: everyone's, their branches', and
    each person they name."""
    scopes = {ALL_SCOPE}
    for row in rows:
        if row.get("branch_id"):
            scopes.add(branch_scope(str(row["branch_id"])))
        if row.get("job_id"):
            scopes.update(user_scope(user_id) for user_id in people_of_row(row))
    return scopes
