"""The job state machine as a table: every move between every two statuses, and what each
status allows (assigning, cancelling, an arrival), written out here as the spec; the diagram
in ``server/jobs/states.py`` is the picture of it."""

from __future__ import annotations

from typing import get_args

import pytest

from server.checkins.schemas import CheckInFields
from server.core.schemas import JobStatus
from server.jobs.states import can_assign, can_cancel, field_step_allowed, status_after_check_in

STATUSES: tuple[str, ...] = get_args(JobStatus)
CHECK_IN_TYPES: tuple[str, ...] = get_args(CheckInFields.model_fields["type"].annotation)
Y, N = True, False

# fmt: off
# Field staff walk their own job along the top line, one step at a time; never back, never
# to cancelled, never out of completed or cancelled.
#                 to: pending  assigned  en_route  in_progress  completed  cancelled
FIELD_STEP = {
    "pending":       (N,       N,        N,        N,           N,         N),
    "assigned":      (N,       N,        Y,        N,           N,         N),
    "en_route":      (N,       N,        N,        Y,           N,         N),
    "in_progress":   (N,       N,        N,        N,           Y,         N),
    "completed":     (N,       N,        N,        N,           N,         N),
    "cancelled":     (N,       N,        N,        N,           N,         N),
}

# Dispatchers assign pending and assigned jobs (a reassignment) and cancel anything not
# finished; an arrival ("in") takes an assigned or en-route job straight to in progress.
#                   assign  cancel  after check-in "in"  after check-in "out"
PER_STATUS = {
    "pending":     (Y,      Y,      None,                None),
    "assigned":    (Y,      Y,      "in_progress",       None),
    "en_route":    (N,      Y,      "in_progress",       None),
    "in_progress": (N,      Y,      None,                None),
    "completed":   (N,      N,      None,                None),
    "cancelled":   (N,      N,      None,                None),
}
# fmt: on


def test_the_tables_cover_every_status_and_check_in_type() -> None:
    assert tuple(FIELD_STEP) == STATUSES and tuple(PER_STATUS) == STATUSES
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


@pytest.mark.parametrize(
    ("status", "check_in_type", "moves_to"),
    [
        pytest.param(status, kind, row[2 + column], id=f"{status}-{kind}")
        for status, row in PER_STATUS.items()
        for column, kind in enumerate(CHECK_IN_TYPES)
    ],
)
def test_what_a_check_in_moves_each_status_to(
    status: str, check_in_type: str, moves_to: str | None
) -> None:
    assert status_after_check_in(status, check_in_type) == moves_to
