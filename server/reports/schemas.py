"""Response shapes of the field's reports."""

from __future__ import annotations

from server.core.schemas import ApiModel
from server.jobs.schemas import JobFull


class ProblemAnswer(ApiModel):
    job: JobFull
