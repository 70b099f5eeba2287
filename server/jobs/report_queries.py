"""The stored problems and remarks of jobs."""

from __future__ import annotations

from typing import Any

from server.db.tables import JobProblem, JobRemark
from server.jobs.queries import insert_many


async def insert_problems(rows: list[dict[str, Any]]) -> None:
    await insert_many(JobProblem, rows)


async def insert_remarks(rows: list[dict[str, Any]]) -> None:
    await insert_many(JobRemark, rows)


async def problems_of(job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await JobProblem.select()
        .where(JobProblem.job == job_id)
        .order_by(JobProblem.reported_at)
        .order_by(JobProblem.received_at)
        .run()
    )
    return rows


async def remarks_of(job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await JobRemark.select()
        .where(JobRemark.job == job_id)
        .order_by(JobRemark.created_at)
        .order_by(JobRemark.id)
        .run()
    )
    return rows
