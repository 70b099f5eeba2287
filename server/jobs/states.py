"""The job state machine, in one place for dispatch, sync and the CRM alike.

    pending ──assign──▶ assigned ──▶ en_route ──▶ in_progress ──▶ completed
                          ▲  │           │             │              │
                          │  └───────────┴──problem────┴──▶ on_hold   │
                          └─────resume / reassign / reschedule──┘     │
                                           in_progress ◀──reopen──────┘
    anything not finished ──cancel──▶ cancelled

Who moves what:

- The crew's lead walks the job along the top line, one step at a time (a check-in ``in``
  may take an assigned or en-route job straight to ``in_progress``: being there is proof
  enough). Other crew members tick, photograph and check in, but do not move the status.
- Anyone in the crew reports a problem (customer absent, no access...): an assigned, en
  route or in progress job goes ``on_hold`` (one on hold stays there, the report added).
- Dispatchers assign any job not finished: a new lead, a pending job or one on hold goes
  back to ``assigned``; the same lead with members added or taken off keeps its status.
  They resume a job on hold (``assigned``), reschedule it (which resumes it too), reopen a
  completed job (back to ``in_progress``) and cancel anything not finished.
- Nothing leaves ``cancelled``.
"""

from __future__ import annotations

from typing import Final

FINISHED: Final = frozenset({"completed", "cancelled"})
UNDER_WAY: Final = frozenset({"en_route", "in_progress"})
NOT_SET_OUT: Final = frozenset({"pending", "assigned"})
"""Nobody has set out: the job's place and crew are still the booking's to change."""
ASSIGNABLE: Final = frozenset({"pending", "assigned", "en_route", "in_progress", "on_hold"})
PROBLEM_REPORTABLE: Final = frozenset({"assigned", "en_route", "in_progress", "on_hold"})
FIELD_STEPS: Final = {
    "assigned": "en_route",
    "en_route": "in_progress",
    "in_progress": "completed",
}
ARRIVAL_MOVES: Final = frozenset({"assigned", "en_route"})
ON_HOLD: Final = "on_hold"
REOPENED_TO: Final = "in_progress"


def field_step_allowed(current: str, target: str) -> bool:
    """Whether the crew's lead may move a job from ``current`` to ``target``."""
    return FIELD_STEPS.get(current) == target


def can_assign(current: str) -> bool:
    return current in ASSIGNABLE


def status_after_assign(current: str, lead_changes: bool) -> str:
    """The status a job takes when its crew is set: a new lead starts from ``assigned``
    (they have not set out), as does a job pending or on hold; a crew that keeps its lead
    keeps going."""
    if lead_changes or current in ("pending", ON_HOLD):
        return "assigned"
    return current


def can_cancel(current: str) -> bool:
    return current not in FINISHED


def can_report_problem(current: str) -> bool:
    return current in PROBLEM_REPORTABLE


def can_resume(current: str) -> bool:
    return current == ON_HOLD


def can_reopen(current: str) -> bool:
    return current == "completed"


def status_after_reschedule(current: str, has_crew: bool) -> str:
    """Rescheduling a job on hold (the customer asked for another day) resumes it."""
    if current == ON_HOLD:
        return "assigned" if has_crew else "pending"
    return current


def status_after_check_in(current: str, check_in_type: str) -> str | None:
    """The status an arrival moves a job to, or None when it moves nothing."""
    if check_in_type == "in" and current in ARRIVAL_MOVES:
        return "in_progress"
    return None
