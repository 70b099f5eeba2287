"""One access rule, one table: every role against every kind of thing it may or may not see,
asked through each place that enforces it (the feed's filter, a job's detail, live-update
routing, the office checks) so no consumer can drift from the rule."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from server.auth.tokens import TokenSigner
from server.core.access import ALL_SCOPE, NO_BRANCH, Principal, Role, branch_scope, user_scope
from server.core.schemas import RoleName
from server.jobs.service import may_see, visible_scope
from server.live.events import TEAM_UPDATE, event_name

SOUTH, NORTH = "b-south", "b-north"
ME, TEAMMATE = "u-me", "u-teammate"

STAFF = Principal(ME, "d1", Role.STAFF, SOUTH, "t-south")
DISPATCHER = Principal("u-office", "d2", Role.DISPATCHER, SOUTH, None)
NO_BRANCH_DISPATCHER = Principal("u-new", "d3", Role.DISPATCHER, None, None)
ADMIN = Principal("u-admin", "d4", Role.ADMIN, None, None)
PRINCIPALS = {
    "staff": STAFF,
    "dispatcher": DISPATCHER,
    "dispatcher-no-branch": NO_BRANCH_DISPATCHER,
    "admin": ADMIN,
}


def job(branch: str, assignee: str | None) -> dict[str, Any]:
    return {"branch": branch, "assignee": assignee}


JOBS = {
    "own job": job(SOUTH, ME),
    "teammate's job": job(SOUTH, TEAMMATE),
    "unassigned in branch": job(SOUTH, None),
    "other branch's job": job(NORTH, TEAMMATE),
}
#                       staff  dispatcher  no-branch  admin
JOB_TABLE = {
    "own job": (True, True, False, True),
    "teammate's job": (False, True, False, True),
    "unassigned in branch": (False, True, False, True),
    "other branch's job": (False, False, False, True),
}
CASES = [
    (name, who, JOB_TABLE[name][column])
    for name in JOB_TABLE
    for column, who in enumerate(PRINCIPALS)
]


def change_row(kind: str, branch: str, assignee: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "branch_id": branch,
        "assignee_id": assignee,
        "previous_assignee_id": None,
        "payload": extra.get("payload"),
    }


@pytest.mark.parametrize(("resource", "who", "allowed"), CASES)
def test_a_job_is_seen_alike_by_the_detail_the_feed_and_live_updates(
    resource: str, who: str, allowed: bool
) -> None:
    principal, row = PRINCIPALS[who], JOBS[resource]
    scope = visible_scope(principal)
    in_feed = (scope.assignee_id in (None, row["assignee"])) and (
        scope.branch_id in (None, row["branch"])
    )
    heard = event_name(principal, change_row("job.updated", row["branch"], row["assignee"]), None)
    assert may_see(principal, row) is allowed
    assert in_feed is allowed
    assert (heard is not None) is allowed


#                           staff  dispatcher  no-branch  admin
OFFICE_TABLE = {SOUTH: (False, True, False, True), NORTH: (False, False, False, True)}


@pytest.mark.parametrize(
    ("branch", "who", "allowed"),
    [(b, who, OFFICE_TABLE[b][i]) for b in OFFICE_TABLE for i, who in enumerate(PRINCIPALS)],
)
def test_only_a_branchs_office_runs_it(branch: str, who: str, allowed: bool) -> None:
    assert PRINCIPALS[who].audience.office_of(branch) is allowed


@pytest.mark.parametrize(
    ("who", "team", "hears"),
    [
        ("staff", "t-south", True),
        ("staff", "t-other", False),
        ("dispatcher", "t-other", True),  # the office hears every team of its branch
        ("dispatcher-no-branch", "t-south", False),
        ("admin", "t-other", True),
    ],
)
def test_team_updates_reach_the_team_and_its_office(who: str, team: str, hears: bool) -> None:
    row = change_row(TEAM_UPDATE, SOUTH, None, payload={"teamId": team})
    assert (event_name(PRINCIPALS[who], row, None) is not None) is hears


@pytest.mark.parametrize(
    ("who", "scope", "family", "branch_filter"),
    [
        ("staff", user_scope(ME), "field", SOUTH),
        ("dispatcher", branch_scope(SOUTH), "office", SOUTH),
        ("dispatcher-no-branch", branch_scope(NO_BRANCH), "office", NO_BRANCH),
        ("admin", ALL_SCOPE, "office", None),
    ],
)
def test_each_audience_has_one_version_scope_app_and_branch_filter(
    who: str, scope: str, family: str, branch_filter: str | None
) -> None:
    audience = PRINCIPALS[who].audience
    assert (audience.version_scope, audience.family, audience.branch_filter) == (
        scope,
        family,
        branch_filter,
    )


def test_the_published_role_names_are_the_roles() -> None:
    assert set(get_args(RoleName)) == {role.value for role in Role}


def test_a_token_carries_the_audience_it_was_issued_with() -> None:
    signer = TokenSigner("k" * 40, 60, 600)
    read = signer.read_access(signer.issue_access(DISPATCHER))
    assert read == DISPATCHER
    assert read.role is Role.DISPATCHER
    assert read.audience == DISPATCHER.audience
