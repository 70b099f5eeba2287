"""What the field reports on a job besides its progress: problems and remarks.

A problem ("the customer is not home") puts the job on hold and alerts the office; a remark
("dog in the garden, key under the mat") is added beside the office's notes and never changes
them, so it can never conflict. Both arrive through offline sync (each under its
``mutationId``, applied once) and are kept append-only, with who and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from server.core.clock import local_time
from server.core.inputs import Input, MutationId, ObjectId, Prose
from server.core.schemas import ProblemReason
from server.jobs import queries as job_queries
from server.jobs import report_queries

MAX_NOTE = 2000
MAX_REMARK = 1000


class ProblemFields(Input):
    reason: ProblemReason
    note: Prose = Field("", max_length=MAX_NOTE)
    photo_id: ObjectId | None = None


class ProblemRequest(ProblemFields):
    """``POST /api/mobile/jobs/{id}/issues``: the job is in the path."""

    mutation_id: MutationId


class BatchProblem(ProblemFields):
    mutation_id: MutationId
    job_id: ObjectId


class BatchRemark(Input):
    mutation_id: MutationId
    job_id: ObjectId
    text: Prose = Field(min_length=1, max_length=MAX_REMARK)


def problem_row(
    job_id: str,
    problem: ProblemFields,
    *,
    mutation_id: str,
    user_id: str,
    device_id: str | None,
    reported_at: datetime,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "job": job_id,
        "user_id": user_id,
        "device_id": device_id,
        "mutation_id": mutation_id,
        "reason": problem.reason,
        "note": problem.note,
        "photo_id": problem.photo_id,
        "reported_at": reported_at,
    }


def problem_fact(row: dict[str, Any]) -> dict[str, Any]:
    """What the job's log row says of the problem (alerts and the CRM read it)."""
    return {
        "id": row["id"],
        "reason": row["reason"],
        "note": row["note"],
        "reportedBy": row["user_id"],
        "photoId": row["photo_id"],
    }


def remark_row(remark: BatchRemark, *, user_id: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "job": remark.job_id,
        "author_id": user_id,
        "mutation_id": remark.mutation_id,
        "text": remark.text,
        "created_at": created_at,
    }


async def job_people(job_id: str, crew: list[str]) -> dict[str, list[dict[str, Any]]]:
    """A job's ``crew`` (lead first) and its ``remarks`` and ``problems`` (oldest first), with
    everyone's names from one query."""
    problems = await report_queries.problems_of(job_id)
    remarks = await report_queries.remarks_of(job_id)
    names = await job_queries.people_named(
        sorted(
            {*crew} | {str(p["user_id"]) for p in problems} | {str(r["author_id"]) for r in remarks}
        )
    )

    def name(user_id: object) -> str:
        return str(names.get(str(user_id), {}).get("name", ""))

    return {
        "crew": [
            {"id": user_id, "name": names[user_id]["name"], "phone": names[user_id]["phone"]}
            for user_id in crew
            if user_id in names
        ],
        "remarks": [
            {
                "id": str(r["id"]),
                "authorId": str(r["author_id"]),
                "authorName": name(r["author_id"]),
                "text": r["text"],
                "createdAt": local_time(r["created_at"]),
            }
            for r in remarks
        ],
        "problems": [
            {
                "id": str(p["id"]),
                "reason": p["reason"],
                "note": p["note"],
                "reportedBy": str(p["user_id"]),
                "reportedByName": name(p["user_id"]),
                "reportedAt": local_time(p["reported_at"]),
                "photoId": None if p["photo_id"] is None else str(p["photo_id"]),
            }
            for p in problems
        ],
    }
