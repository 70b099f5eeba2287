"""The job state machine as a table: every move between every two statuses, and what each
status allows (assigning, cancelling, an arrival), written out here as the spec; the diagram
in ``server/jobs/states.py`` is the picture of it."""

from __future__ import annotations

from typing import get_args

import pytest

from server.checkins.schemas import CheckInFields
from server.core.schemas import JobStatus
from server.jobs.states import (
    can_assign,
    can_cancel,
    can_reopen,
    can_report_problem,
    can_resume,
    field_step_allowed,
    status_after_assign,
    status_after_check_in,
    status_after_reschedule,
)

STATUSES: tuple[str, ...] = get_args(JobStatus)
CHECK_IN_TYPES: tuple[str, ...] = get_args(CheckInFields.model_fields["type"].annotation)
Y, N = True, False

# fmt: off
# The crew's lead walks the job along the top line, one step at a time; never back, never
# to cancelled or on hold by a step, never out of on hold, completed or cancelled.
#                 to: pending  assigned  en_route  in_progress  on_hold  completed  cancelled
FIELD_STEP = {
    "pending":       (N,       N,        N,        N,           N,       N,         N),
    "assigned":      (N,       N,        Y,        N,           N,       N,         N),
    "en_route":      (N,       N,        N,        Y,           N,       N,         N),
    "in_progress":   (N,       N,        N,        N,           N,       Y,         N),
    "on_hold":       (N,       N,        N,        N,           N,       N,         N),
    "completed":     (N,       N,        N,        N,           N,       N,         N),
    "cancelled":     (N,       N,        N,        N,           N,       N,         N),
}

# Dispatchers assign (or reassign) anything not finished and cancel it; the crew reports a
# problem on a job assigned, under way or already on hold; a dispatcher resumes a job on
# hold and reopens a completed one; an arrival ("in") takes an assigned or en-route job
# straight to in progress.
#                  assign cancel problem resume reopen  after "in"     after "out"
PER_STATUS = {
    "pending":     (Y,    Y,     N,      N,     N,      None,          None),
    "assigned":    (Y,    Y,     Y,      N,     N,      "in_progress", None),
    "en_route":    (Y,    Y,     Y,      N,     N,      "in_progress", None),
    "in_progress": (Y,    Y,     Y,      N,     N,      None,          None),
    "on_hold":     (Y,    Y,     Y,      Y,     N,      None,          None),
    "completed":   (N,    N,     N,      N,     Y,      None,          None),
    "cancelled":   (N,    N,     N,      N,     N,      None,          None),
}

# What a new crew makes of each status: a new lead (they have not set out) starts from
# assigned, as does a pending job or one on hold; a crew keeping its lead keeps going.
# Rescheduling resumes a job on hold (pending when nobody is on it).
#                  new lead       same lead      rescheduled (crew)  rescheduled (none)
AFTER = {
    "pending":     ("assigned",   "assigned",    "pending",          "pending"),
    "assigned":    ("assigned",   "assigned",    "assigned",         "assigned"),
    "en_route":    ("assigned",   "en_route",    "en_route",         "en_route"),
    "in_progress": ("assigned",   "in_progress", "in_progress",      "in_progress"),
    "on_hold":     ("assigned",   "assigned",    "assigned",         "pending"),
}
# fmt: on


def test_the_tables_cover_every_status_and_check_in_type() -> None:
    assert tuple(FIELD_STEP) == STATUSES and tuple(PER_STATUS) == STATUSES
    assert set(AFTER) == {s for s in STATUSES if can_assign(s)}
    assert all(len(row) == len(STATUSES) for row in FIELD_STEP.values())
    assert CHECK_IN_TYPES == ("in", "out")


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        pytest.param(current, target, row[column], id=f"{current}->{target}")
        for current, row in FIELD_STEP.items()
        for column, target in enumerate(STATUSES)
    ],
)
def test_field_staff_step_from_each_status_to_each_other(
    current: str, target: str, allowed: bool
) -> None:
    assert field_step_allowed(current, target) is allowed


@pytest.mark.parametrize(("status", "allowed"), [(s, row[0]) for s, row in PER_STATUS.items()])
def test_which_jobs_a_dispatcher_may_assign(status: str, allowed: bool) -> None:
    assert can_assign(status) is allowed


@pytest.mark.parametrize(("status", "allowed"), [(s, row[1]) for s, row in PER_STATUS.items()])
def test_which_jobs_a_dispatcher_may_cancel(status: str, allowed: bool) -> None:
    assert can_cancel(status) is allowed


@pytest.mark.parametrize(("status", "allowed"), [(s, row[2]) for s, row in PER_STATUS.items()])
def test_which_jobs_the_crew_may_report_a_problem_on(status: str, allowed: bool) -> None:
    assert can_report_problem(status) is allowed


@pytest.mark.parametrize(("status", "allowed"), [(s, row[3]) for s, row in PER_STATUS.items()])
def test_which_jobs_a_dispatcher_may_resume(status: str, allowed: bool) -> None:
    assert can_resume(status) is allowed


@pytest.mark.parametrize(("status", "allowed"), [(s, row[4]) for s, row in PER_STATUS.items()])
def test_which_jobs_a_dispatcher_may_reopen(status: str, allowed: bool) -> None:
    assert can_reopen(status) is allowed


@pytest.mark.parametrize(("status", "row"), list(AFTER.items()))
def test_what_a_new_crew_or_a_new_date_makes_of_each_status(
    status: str, row: tuple[str, str, str, str]
) -> None:
    assert status_after_assign(status, lead_changes=True) == row[0]
    assert status_after_assign(status, lead_changes=False) == row[1]
    assert status_after_reschedule(status, has_crew=True) == row[2]
    assert status_after_reschedule(status, has_crew=False) == row[3]


@pytest.mark.parametrize(
    ("status", "check_in_type", "moves_to"),
    [
        pytest.param(status, kind, row[5 + column], id=f"{status}-{kind}")
        for status, row in PER_STATUS.items()
        for column, kind in enumerate(CHECK_IN_TYPES)
    ],
)
def test_what_a_check_in_moves_each_status_to(
    status: str, check_in_type: str, moves_to: str | None
) -> None:
    assert status_after_check_in(status, check_in_type) == moves_to
