"""The conflict table of offline sync, one test per row (the table in the README and in
``server/sync/rules.py``), on both engines.

Every row: a phone reads a job, goes offline, someone else (a dispatcher, or the same
person's other device) changes the job, then the phone syncs against the version it saw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from server.context import AppContext
from tests.phones import Dispatcher, Phone
from tests.world import World, add_jobs, add_staff


@dataclass
class Scene:
    """One staff member's job, seen by their phone at ``base`` (version and checklist)."""

    phone: Phone
    tablet: Phone  # the same person's other device
    dispatcher: Dispatcher
    job_id: str
    base: int
    items: list[str]
    other_staff: dict[str, Any]


@pytest.fixture
async def scene(client: httpx.AsyncClient, ctx: AppContext, world: World) -> Scene:
    staff, other = await add_staff(world), await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    phone = Phone(client, ctx, staff)
    detail = await phone.job(job["id"])
    return Scene(
        phone=phone,
        tablet=Phone(client, ctx, staff),
        dispatcher=Dispatcher(client, ctx, world.dispatcher),
        job_id=job["id"],
        base=detail["job"]["version"],
        items=[item["id"] for item in detail["checklistItems"]],
        other_staff=other,
    )


async def tablet_step(scene: Scene, *statuses: str) -> None:
    version = scene.base
    for status in statuses:
        answer = await scene.tablet.sync(scene.tablet.update(scene.job_id, version, status=status))
        assert answer["synced"], answer
        version = (await scene.tablet.job(scene.job_id))["job"]["version"]


async def tablet_ticks(scene: Scene, *done: bool) -> None:
    for value in done:
        version = (await scene.tablet.job(scene.job_id))["job"]["version"]
        change = {"checklist": [{"itemId": scene.items[0], "done": value}]}
        assert (await scene.tablet.sync(scene.tablet.update(scene.job_id, version, **change)))[
            "synced"
        ]


async def nothing(scene: Scene) -> None:
    return None


async def phone_checks_in(scene: Scene) -> None:
    """The phone itself arrives (moving the job to in progress), in an earlier batch."""
    arrived = await scene.phone.sync(check_ins=[scene.phone.check_in(scene.job_id)])
    assert arrived["synced"], arrived


async def dispatcher_notes(scene: Scene) -> None:
    assert (await scene.dispatcher.edit(scene.job_id, notes="gate code 4411")).status_code == 200


async def dispatcher_cancels(scene: Scene) -> None:
    assert (await scene.dispatcher.edit(scene.job_id, status="cancelled")).status_code == 200


async def dispatcher_reassigns(scene: Scene) -> None:
    response = await scene.dispatcher.assign(scene.job_id, scene.other_staff["id"])
    assert response.status_code == 200, response.text


async def tablet_starts(scene: Scene) -> None:
    await tablet_step(scene, "en_route", "in_progress")


async def tablet_completes(scene: Scene) -> None:
    await tablet_step(scene, "en_route", "in_progress", "completed")


async def tablet_ticks_then_unticks(scene: Scene) -> None:
    await tablet_ticks(scene, True, False)


async def tablet_ticks_once(scene: Scene) -> None:
    await tablet_ticks(scene, True)


@dataclass(frozen=True)
class Row:
    """Meanwhile ``server_side`` happens; the phone sends ``change`` against its old version;
    it lands in ``answer`` with receipt ``receipt`` (and ``reason``), and the job ends with
    ``expect`` (a field of the job, or ``item0`` for the first checklist item's done)."""

    server_side: Callable[[Scene], Awaitable[None]]
    change: Callable[[Scene], dict[str, Any]]
    answer: str
    receipt: str
    reason: str | None
    expect: tuple[str, Any]


TABLE = {
    "base current: applied": Row(
        nothing,
        lambda s: {"status": "en_route"},
        "synced",
        "applied",
        None,
        ("status", "en_route"),
    ),
    "stale, nothing overlaps: merged": Row(
        dispatcher_notes,
        lambda s: {"checklist": [{"itemId": s.items[0], "done": True}]},
        "synced",
        "merged",
        None,
        ("item0", True),
    ),
    "same field (status) on both sides: conflict": Row(
        tablet_starts,
        lambda s: {"status": "en_route"},
        "conflicts",
        "superseded",
        "status_changed",
        ("status", "in_progress"),
    ),
    "same field (notes) on both sides: conflict": Row(
        dispatcher_notes,
        lambda s: {"notes": "left key with guard"},
        "conflicts",
        "superseded",
        "notes_changed",
        ("notes", "gate code 4411"),
    ),
    "cancelled by the dispatcher while offline: conflict": Row(
        dispatcher_cancels,
        lambda s: {"status": "en_route"},
        "conflicts",
        "superseded",
        "job_cancelled",
        ("status", "cancelled"),
    ),
    "reassigned while offline: conflict": Row(
        dispatcher_reassigns,
        lambda s: {"status": "en_route"},
        "conflicts",
        "superseded",
        "job_reassigned",
        ("status", "assigned"),
    ),
    "completed meanwhile: conflict": Row(
        tablet_completes,
        lambda s: {"notes": "all done?"},
        "conflicts",
        "superseded",
        "job_completed",
        ("status", "completed"),
    ),
    "checklist: a tick applies over an older server change": Row(
        tablet_ticks_then_unticks,
        lambda s: {"checklist": [{"itemId": s.items[0], "done": True}]},
        "synced",
        "merged",
        None,
        ("item0", True),
    ),
    "checklist: an untick never undoes a newer server tick": Row(
        tablet_ticks_once,
        lambda s: {"checklist": [{"itemId": s.items[0], "done": False}]},
        "conflicts",
        "superseded",
        "checklist_item_changed",
        ("item0", True),
    ),
    "a status this device already passed: nothing to do": Row(
        phone_checks_in,
        lambda s: {"status": "en_route"},
        "synced",
        "applied",
        None,
        ("status", "in_progress"),
    ),
    "impossible transition: failed": Row(
        nothing,
        lambda s: {"status": "completed"},
        "failed",
        "rejected",
        "invalid_transition",
        ("status", "assigned"),
    ),
}


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
async def test_conflict_rule(scene: Scene, row: Row) -> None:
    await row.server_side(scene)
    mutation = scene.phone.update(scene.job_id, scene.base, **row.change(scene))

    answer = await scene.phone.sync(mutation)

    listed = answer[row.answer]
    assert [m if isinstance(m, str) else m["mutationId"] for m in listed] == [
        mutation["mutationId"]
    ], answer
    if row.answer == "conflicts":
        conflict = listed[0]
        assert conflict["reason"] == row.reason
        assert conflict["resolution"] == "server_state_kept"
        assert conflict["jobId"] == scene.job_id
        assert conflict["job"]["id"] == scene.job_id
    if row.answer == "failed":
        assert listed[0]["code"] == row.reason
    receipt = await scene.phone.receipt(mutation["mutationId"])
    assert receipt["outcome"] == row.receipt
    assert receipt["code"] == row.reason
    detail = await scene.tablet.client.get(
        f"/api/mobile/jobs/{scene.job_id}", headers=scene.dispatcher.headers
    )
    field, value = row.expect
    state = detail.json()
    actual = state["checklistItems"][0]["done"] if field == "item0" else state["job"][field]
    assert actual == value
