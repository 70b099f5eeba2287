"""Response shape of the readiness check."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.core.schemas import ApiModel


class Health(ApiModel):
    status: Literal["ok"]
    checks: dict[str, str] | None = Field(
        None,
        description="/readyz only: each dependency's state: `ok`, `local` (per process by "
        "configuration) or `degraded: <why>` (serving without it).",
    )
