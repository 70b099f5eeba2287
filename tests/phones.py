"""Phones and dispatchers as tests drive them: offline changes queued, then synced."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.context import AppContext
from server.sync.schemas import ReceiptsPage
from tests.answers import parse_answer
from tests.world import bearer

SYNC = "/api/mobile/sync"
CHANGES = "/api/mobile/sync/changes"
RECEIPTS = "/api/mobile/sync/receipts"
DISPATCH = "/api/dispatch/jobs"


def rfc3339(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Phone:
    """One signed-in device of one user, with its own queue of offline changes."""

    client: httpx.AsyncClient
    ctx: AppContext
    user: dict[str, Any]
    device_id: str = field(default_factory=new_id)
    clock_offset: timedelta = timedelta(0)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.ctx.signer, self.user, self.device_id)

    def update(self, job_id: str, base_version: int, **change: Any) -> dict[str, Any]:
        return {
            "mutationId": new_id(),
            "jobId": job_id,
            "baseVersion": base_version,
            "clientTimestamp": rfc3339(datetime.now(UTC) + self.clock_offset),
            **change,
        }

    def check_in(self, job_id: str, kind: str = "in", **fields: Any) -> dict[str, Any]:
        return {
            "mutationId": new_id(),
            "jobId": job_id,
            "type": kind,
            "location": {"lat": 13.7083, "lng": 100.5838},
            "accuracy": 8.0,
            "timestamp": rfc3339(datetime.now(UTC) + self.clock_offset),
            **fields,
        }

    def issue(self, job_id: str, reason: str = "customer_absent", **fields: Any) -> dict[str, Any]:
        """A problem reported on a job (it goes on hold)."""
        return {"mutationId": new_id(), "jobId": job_id, "reason": reason, **fields}

    def remark(self, job_id: str, text: str) -> dict[str, Any]:
        return {"mutationId": new_id(), "jobId": job_id, "text": text}

    def batch(self, updates: Sequence[dict[str, Any]] = (), **lists: Any) -> dict[str, Any]:
        return {
            "deviceId": f"phone-{self.device_id[:8]}",
            "deviceTime": rfc3339(datetime.now(UTC) + self.clock_offset),
            "pendingUpdates": list(updates),
            "photos": lists.get("photos", []),
            "checkIns": lists.get("check_ins", []),
            "issues": lists.get("issues", []),
            "remarks": lists.get("remarks", []),
        }

    async def send(self, batch: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(SYNC, json=batch, headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def sync(self, *updates: dict[str, Any], **lists: Any) -> dict[str, Any]:
        return await self.send(self.batch(list(updates), **lists))

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/mobile/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def receipts(self, since: int = 0) -> list[dict[str, Any]]:
        response = await self.client.get(RECEIPTS, params={"since": since}, headers=self.headers)
        assert response.status_code == 200, response.text
        parse_answer(ReceiptsPage, response.json())
        receipts: list[dict[str, Any]] = response.json()["receipts"]
        return receipts

    async def receipt(self, mutation_id: str) -> dict[str, Any]:
        return next(r for r in await self.receipts() if r["mutationId"] == mutation_id)


@dataclass
class Dispatcher:
    client: httpx.AsyncClient
    ctx: AppContext
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.ctx.signer, self.user)

    async def assign(self, job_id: str, assignee_id: str) -> httpx.Response:
        return await self.client.post(
            f"{DISPATCH}/{job_id}/assign", json={"assigneeId": assignee_id}, headers=self.headers
        )

    async def edit(self, job_id: str, **edits: Any) -> httpx.Response:
        return await self.client.patch(f"{DISPATCH}/{job_id}", json=edits, headers=self.headers)
