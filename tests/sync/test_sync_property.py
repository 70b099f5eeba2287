"""A property of offline sync, tried on random histories (hypothesis).

Several phones of one staff member work offline and a dispatcher edits and reassigns the
same jobs; the phones sync in random order, sometimes lose the answer and send the same
batch again. Afterwards every phone that pulls the change feed holds exactly the server's
state, every mutation has exactly one receipt, and every accepted change is in the job's
version count exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.context import AppContext
from tests.phones import CHANGES, RECEIPTS, Dispatcher, Phone
from tests.world import World, add_jobs, add_staff

JOBS = 2
PHONES = 2
NEXT = {"assigned": "en_route", "en_route": "in_progress", "in_progress": "completed"}


@dataclass
class FieldPhone:
    """A phone's copy of its jobs (only what the server told it) and its offline queue."""

    phone: Phone
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursor: int = 0
    queue: list[dict[str, Any]] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)

    async def pull(self) -> None:
        for _ in range(50):
            response = await self.phone.client.get(
                CHANGES, params={"since": self.cursor, "limit": 1}, headers=self.phone.headers
            )
            page = response.json()
            for job in page["changes"]:
                self.jobs[job["id"]] = comparable(job, job["checklistItems"])
            for job_id in page["removed"]:
                self.jobs.pop(job_id, None)
            self.cursor = page["cursor"]
            if not page["hasMore"]:
                return
        raise AssertionError("the change feed never ended")

    def edit(self, index: int, kind: str, value: int) -> None:
        """Queue a change to the index-th job this phone knows, against its known version."""
        if not self.jobs:
            return
        job_id = sorted(self.jobs)[index % len(self.jobs)]
        job = self.jobs[job_id]
        if kind == "status":
            change: dict[str, Any] = {"status": NEXT.get(job["status"], "completed")}
        elif kind == "notes":
            change = {"notes": f"phone note {value}"}
        else:
            item = job["checklist"][value % len(job["checklist"])]
            change = {"checklist": [{"itemId": item[0], "done": value % 3 != 0}]}
        self.queue.append(self.phone.update(job_id, job["version"], **change))

    async def sync(self, lose_answer: bool) -> None:
        if not self.queue:
            return
        batch = self.phone.batch(self.queue)
        await self.phone.send(batch)
        self.sent |= {m["mutationId"] for m in self.queue}
        if not lose_answer:
            self.queue = []


def comparable(job: dict[str, Any], checklist: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": job["version"],
        "status": job["status"],
        "notes": job["notes"],
        "priority": job["priority"],
        "assigneeId": job["assigneeId"],
        "checklist": [(item["id"], item["done"]) for item in checklist],
    }


steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("edit"),
            st.integers(0, PHONES - 1),
            st.integers(0, JOBS - 1),
            st.sampled_from(["status", "notes", "tick"]),
            st.integers(0, 50),
        ),
        st.tuples(st.just("sync"), st.integers(0, PHONES - 1), st.booleans()),
        st.tuples(st.just("pull"), st.integers(0, PHONES - 1)),
        st.tuples(
            st.just("dispatch"),
            st.integers(0, JOBS - 1),
            st.sampled_from(["notes", "priority", "cancel", "away", "back"]),
            st.integers(0, 50),
        ),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=steps)
async def test_phones_and_a_dispatcher_converge_with_nothing_lost_or_doubled(
    client: httpx.AsyncClient, ctx: AppContext, world: World, history: list[tuple[Any, ...]]
) -> None:
    staff, elsewhere = await add_staff(world), await add_staff(world)
    job_ids = [job["id"] for job in await add_jobs(staff, JOBS)]
    phones = [FieldPhone(Phone(client, ctx, staff)) for _ in range(PHONES)]
    dispatcher = Dispatcher(client, ctx, world.dispatcher)
    dispatcher_writes = dict.fromkeys(job_ids, 0)
    for phone in phones:
        await phone.pull()

    for step in history:
        if step[0] == "edit":
            phones[step[1]].edit(step[2], step[3], step[4])
        elif step[0] == "sync":
            await phones[step[1]].sync(lose_answer=step[2])
        elif step[0] == "pull":
            await phones[step[1]].pull()
        else:
            job_id, kind, value = job_ids[step[1]], step[2], step[3]
            dispatcher_writes[job_id] += await dispatch(
                dispatcher, job_id, kind, value, staff, elsewhere
            )

    for phone in phones:
        await phone.sync(lose_answer=True)  # the answer is lost: the phone sends it again
        await phone.sync(lose_answer=False)
    for phone in phones:
        await phone.pull()

    truth = await server_state(phones[0].phone, job_ids)
    for phone in phones:
        assert phone.jobs == truth
    receipts = await all_receipts(phones[0].phone)
    sent = set().union(*(phone.sent for phone in phones))
    assert sorted(r["mutationId"] for r in receipts) == sorted(sent), "one receipt each"
    for job_id in job_ids:
        writes = [r for r in receipts if r["jobId"] == job_id and r["changeId"] is not None]
        detail = await dispatcher.client.get(
            f"/api/mobile/jobs/{job_id}", headers=dispatcher.headers
        )
        assert detail.json()["job"]["version"] == 1 + len(writes) + dispatcher_writes[job_id]


async def dispatch(
    dispatcher: Dispatcher,
    job_id: str,
    kind: str,
    value: int,
    staff: dict[str, Any],
    elsewhere: dict[str, Any],
) -> int:
    """One dispatcher action; returns how many versions it added (0 when refused or a no-op)."""
    before = await dispatcher.client.get(f"/api/mobile/jobs/{job_id}", headers=dispatcher.headers)
    if kind == "notes":
        response = await dispatcher.edit(job_id, notes=f"office note {value}")
    elif kind == "priority":
        response = await dispatcher.edit(job_id, priority=["normal", "high", "urgent"][value % 3])
    elif kind == "cancel":
        response = await dispatcher.edit(job_id, status="cancelled")
    else:
        response = await dispatcher.assign(job_id, (elsewhere if kind == "away" else staff)["id"])
    if response.status_code != 200:
        assert response.status_code == 409, response.text  # a finished or started job
        return 0
    added: int = response.json()["job"]["version"] - before.json()["job"]["version"]
    return added


async def server_state(phone: Phone, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The jobs the staff member may see now, as the server holds them."""
    state = {}
    for job_id in job_ids:
        response = await phone.client.get(f"/api/mobile/jobs/{job_id}", headers=phone.headers)
        if response.status_code == 200:
            detail = response.json()
            state[job_id] = comparable(detail["job"], detail["checklistItems"])
    return state


async def all_receipts(phone: Phone) -> list[dict[str, Any]]:
    receipts: list[dict[str, Any]] = []
    since = 0
    for _ in range(100):
        page = (
            await phone.client.get(RECEIPTS, params={"since": since}, headers=phone.headers)
        ).json()
        receipts.extend(page["receipts"])
        since = page["cursor"]
        if not page["hasMore"]:
            return receipts
    raise AssertionError("receipts never ended")
