"""A job's crew: the people who work it, the lead first.

The lead is the job's ``assignee`` (what ``assigneeId`` shows); the whole crew is stored in
order on the job (``crew``, for showing it) and one row per person in ``job_crew`` (for
finding a person's jobs). :class:`~server.jobs.writes.JobWriter` keeps the three in step.
"""

from __future__ import annotations

from typing import Any


def crew_of(job: dict[str, Any]) -> list[str]:
    """The crew's user ids, lead first (a row read without its crew: the assignee alone)."""
    stored = job.get("crew")
    if stored:
        return str(stored).split()
    assignee = job.get("assignee")
    return [] if assignee is None or stored is not None else [str(assignee)]


def crew_text(crew: list[str]) -> str:
    return " ".join(crew)


def lead_of(crew: list[str]) -> str | None:
    return crew[0] if crew else None


def is_lead(job: dict[str, Any], user_id: str) -> bool:
    return lead_of(crew_of(job)) == user_id


def unique_crew(user_ids: list[Any]) -> list[str]:
    """Ids as given, lead first, each once."""
    crew: list[str] = []
    for user_id in user_ids:
        if str(user_id) not in crew:
            crew.append(str(user_id))
    return crew
