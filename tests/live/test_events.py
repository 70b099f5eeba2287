"""Which live event each person hears for each change: the name ``event_name`` gives every
audience (the crew's lead, another member of the crew, one the job was taken from, a
bystander, the office of its branch and of another, an admin) for every kind of change, as
one table. Whether they hear it at all is
the access table's (``tests/core/test_access.py``); here it is which name they hear."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from server.core.access import Principal, Role
from server.live.events import (
    ALERT_ACKNOWLEDGED,
    ALERT_RAISED,
    EVENT_NAMES,
    NAMES,
    RESET,
    SESSION_REVOKED,
    TEAM_UPDATE,
    USER_CHANGED,
    event_name,
)

SOUTH, NORTH = "b-south", "b-north"
TEAM, OTHER_TEAM = "t-south-1", "t-south-2"
ME, MEMBER, BEFORE = "u-assignee", "u-member", "u-previous"

AUDIENCES = {
    "assignee": Principal(ME, "d1", Role.STAFF, SOUTH, TEAM),
    "crew member": Principal(MEMBER, "d7", Role.STAFF, SOUTH, OTHER_TEAM),
    "previous assignee": Principal(BEFORE, "d2", Role.STAFF, SOUTH, TEAM),
    "bystander": Principal("u-bystander", "d3", Role.STAFF, SOUTH, OTHER_TEAM),
    "dispatcher": Principal("u-office", "d4", Role.DISPATCHER, SOUTH, None),
    "other branch": Principal("u-north", "d5", Role.DISPATCHER, NORTH, None),
    "admin": Principal("u-admin", "d6", Role.ADMIN, None, None),
}


def row(kind: str, previous: str | None = None, **payload: Any) -> dict[str, Any]:
    """A change-log row of the south branch's job whose crew is ``ME`` (lead) and ``MEMBER``,
    taken from ``previous`` by this change."""
    return {
        "kind": kind,
        "job_id": "j-south-1",
        "branch_id": SOUTH,
        "assignee_id": ME,
        "previous_assignee_id": previous,
        "payload": {"crew": [ME, MEMBER], **({"left": [previous]} if previous else {}), **payload},
    }


def before_crews(kind: str, previous: str | None = None) -> dict[str, Any]:
    """A row logged before crews: its columns alone name whom it concerns."""
    return {**row(kind, previous), "payload": {}}


URGENT: dict[str, Any] = {"fields": {"priority": "urgent"}}
CHANGES: dict[str, tuple[dict[str, Any], str | None]] = {
    # name: (the change-log row, the job's priority as the event shows it)
    "created": (row("job.created"), "normal"),
    "created urgent": (row("job.created"), "urgent"),
    "assigned": (row("job.assigned"), "normal"),
    "reassigned from someone": (row("job.assigned", BEFORE), "normal"),
    "an urgent job reassigned": (row("job.assigned", BEFORE), "urgent"),
    "status changed": (row("job.status_changed"), "normal"),
    "cancelled": (row("job.cancelled"), "normal"),
    "rescheduled": (row("job.rescheduled"), "normal"),
    "reprioritised (not urgent)": (row("job.reprioritised", fields={"priority": "high"}), "high"),
    "reprioritised urgent": (row("job.reprioritised", None, **URGENT), "urgent"),
    "updated": (row("job.updated"), "normal"),
    "updated urgent in the same change": (row("job.updated", None, **URGENT), "urgent"),
    "photo added": (row("job.photo_added"), "normal"),
    "photo processed": (row("job.photo_processed"), "normal"),
    "problem reported (on hold)": (
        row("job.problem_reported", fields={"status": "on_hold"}),
        "normal",
    ),
    "remark added": (row("job.remark_added"), "normal"),
    "reopened": (row("job.reopened"), "normal"),
    "resumed": (row("job.resumed"), "normal"),
    "a member taken off the crew": (
        {**row("job.assigned"), "payload": {"crew": [ME], "left": [MEMBER]}},
        "normal",
    ),
    "reassigned, logged before crews": (before_crews("job.assigned", BEFORE), "normal"),
    "a kind not named (purged)": (row("job.photo_evidence_purged"), "normal"),
    "handed back (assignee deactivated)": (
        {**row("job.unassigned"), "assignee_id": None, "payload": {"crew": [], "left": [ME]}},
        "normal",
    ),
    "alert raised": (
        {**row(ALERT_RAISED), "job_id": None, "assignee_id": None, "payload": {"alert": {}}},
        None,
    ),
    "alert acknowledged": (
        {**row(ALERT_ACKNOWLEDGED), "job_id": None, "assignee_id": None, "payload": {}},
        None,
    ),
    "team update": ({**row(TEAM_UPDATE, teamId=TEAM), "job_id": None, "assignee_id": None}, None),
    "session revoked": ({**row(SESSION_REVOKED), "job_id": None}, None),
    "a person's role, branch or team changed": (
        {**row(USER_CHANGED, userId=ME), "job_id": None, "assignee_id": None, "branch_id": None},
        None,
    ),
    "a fact of no job (a password reset asked for)": (
        {**row("staff.password_reset_requested", userId=ME), "job_id": None, "branch_id": None},
        None,
    ),
}

NAMED: dict[str, str | None] = {
    "as": "job-assigned",
    "un": "job-unassigned",
    "cr": "job-created",
    "st": "status-updated",
    "ca": "job-cancelled",
    "re": "job-rescheduled",
    "up": "job-updated",
    "ph": "photo-processed",
    "oh": "job-on-hold",
    "al": "alert",
    "te": "team-update",
    "!!": "priority-alert",
    "--": None,  # not theirs: not heard
}
# fmt: off
# columns: the crew's lead, another crew member (of another team), the one the job was taken
# from, a bystander (staff of another team), the dispatcher of the branch, the dispatcher of
# another branch, an admin
TABLE = {
    "created":                           "as as -- -- cr -- cr",
    "created urgent":                    "!! !! -- -- !! -- !!",
    "assigned":                          "as as -- -- as -- as",
    "reassigned from someone":           "as as un -- as -- as",
    "an urgent job reassigned":          "as as un -- as -- as",
    "status changed":                    "st st -- -- st -- st",
    "cancelled":                         "ca ca -- -- ca -- ca",
    "rescheduled":                       "re re -- -- re -- re",
    "reprioritised (not urgent)":        "up up -- -- up -- up",
    "reprioritised urgent":              "!! !! -- -- !! -- !!",
    "updated":                           "up up -- -- up -- up",
    "updated urgent in the same change": "!! !! -- -- !! -- !!",
    "photo added":                       "up up -- -- up -- up",
    "photo processed":                   "ph ph -- -- ph -- ph",
    "problem reported (on hold)":        "oh oh -- -- oh -- oh",
    "remark added":                      "up up -- -- up -- up",
    "reopened":                          "up up -- -- up -- up",
    "resumed":                           "up up -- -- up -- up",
    "a member taken off the crew":       "as un -- -- as -- as",
    "reassigned, logged before crews":   "as -- un -- as -- as",
    "a kind not named (purged)":         "up up -- -- up -- up",
    "handed back (assignee deactivated)": "un -- -- -- up -- up",
    "alert raised":                      "-- -- -- -- al -- al",
    "alert acknowledged":                "-- -- -- -- al -- al",
    "team update":                       "te -- te -- te -- te",
    "session revoked":                   "-- -- -- -- -- -- --",
    "a person's role, branch or team changed": "-- -- -- -- -- -- --",
    "a fact of no job (a password reset asked for)": "-- -- -- -- -- -- --",
}
# fmt: on


def test_the_table_covers_every_audience_and_every_named_kind() -> None:
    assert list(TABLE) == list(CHANGES)
    assert all(len(names.split()) == len(AUDIENCES) for names in TABLE.values())
    kinds = {change["kind"] for change, _ in CHANGES.values()}
    assert set(NAMES) | {SESSION_REVOKED, USER_CHANGED} <= kinds


@pytest.mark.parametrize(
    ("change", "audience", "name"),
    [
        pytest.param(change, audience, NAMED[code], id=f"{change}-{audience}")
        for change, codes in TABLE.items()
        for audience, code in zip(AUDIENCES, codes.split(), strict=True)
    ],
)
def test_which_event_each_audience_hears_for_each_change(
    change: str, audience: str, name: str | None
) -> None:
    changed, priority = CHANGES[change]
    assert event_name(AUDIENCES[audience], changed, priority) == name


def test_a_job_leaving_for_nobody_is_news_to_its_previous_crew_only() -> None:
    unassigned = {**row("job.assigned", ME), "assignee_id": None, "payload": {"crew": []}}
    unassigned["payload"]["left"] = [ME, MEMBER]
    heard = {who: event_name(principal, unassigned, None) for who, principal in AUDIENCES.items()}
    assert heard == {
        "assignee": "job-unassigned",  # ME led the crew here
        "crew member": "job-unassigned",
        "previous assignee": None,
        "bystander": None,
        "dispatcher": "job-assigned",
        "other branch": None,
        "admin": "job-assigned",
    }


def test_every_name_given_is_one_the_app_knows_and_every_one_is_given() -> None:
    rows = [changed for changed, _ in CHANGES.values()]
    people = [(ME, None), (ME, BEFORE), (BEFORE, ME), (None, ME), (None, None)]
    given = {
        event_name(principal, {**changed, "assignee_id": now, "previous_assignee_id": was}, p)
        for principal, changed, (now, was), p in itertools.product(
            AUDIENCES.values(), rows, people, [None, "normal", "urgent"]
        )
    } - {None}
    assert given == EVENT_NAMES - {RESET}  # reset is the stream's own, never a row's
