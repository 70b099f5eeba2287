"""The job state machine, in one place for dispatch and sync alike.

    pending ──assign──▶ assigned ──▶ en_route ──▶ in_progress ──▶ completed
       │                   │  ▲          │             │
       │                   └──┘ reassign │             │
       └───────────────────┴─────────────┴─────────────┴──cancel──▶ cancelled

Field staff walk their own jobs along the top line, one step at a time (a check-in ``in``
may take an assigned or en-route job straight to ``in_progress``: being there is proof
enough). Dispatchers assign ``pending`` and ``assigned`` jobs and cancel anything not
finished. Nothing leaves ``completed`` or ``cancelled``.
"""

from __future__ import annotations

from typing import Final

FINISHED: Final = frozenset({"completed", "cancelled"})
ASSIGNABLE: Final = frozenset({"pending", "assigned"})
FIELD_STEPS: Final = {
    "assigned": "en_route",
    "en_route": "in_progress",
    "in_progress": "completed",
}
ARRIVAL_MOVES: Final = frozenset({"assigned", "en_route"})


def field_step_allowed(current: str, target: str) -> bool:
    """Whether the person doing the job may move it from ``current`` to ``target``."""
    return FIELD_STEPS.get(current) == target


def can_assign(current: str) -> bool:
    return current in ASSIGNABLE


def can_cancel(current: str) -> bool:
    return current not in FINISHED


def status_after_check_in(current: str, check_in_type: str) -> str | None:
    """The status an arrival moves a job to, or None when it moves nothing."""
    if check_in_type == "in" and current in ARRIVAL_MOVES:
        return "in_progress"
    return None
