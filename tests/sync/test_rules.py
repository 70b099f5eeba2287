"""The conflict table of offline sync (the docstring of ``server/sync/rules.py``), one case per
row, asked of the rules themselves on plain data: the job as the server holds it, what others
and this device changed since the phone's ``baseVersion`` (:class:`History`), and the phone's
update. The same rows over HTTP, on both engines: ``tests/sync/test_conflicts.py``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.sync import rules
from server.sync.rules import (
    History,
    MutationRejected,
    Rights,
    Superseded,
    history_since,
    plan_update,
    receipt_outcome,
)

BASE = 4
ITEMS = ("item-1", "item-2")
ASSIGNEE = Rights(moves=True, cancels=False)
OFFICE = Rights(moves=False, cancels=True)
REASSIGNED = "job reassigned away meanwhile"
"""Decided before the rules are asked (the job is no longer the phone's to plan against): in
``server/sync/service.py``, and tested over HTTP only."""


@dataclass
class Tick:
    item_id: str
    done: bool


@dataclass(frozen=True)
class Update:
    """A phone's offline edit, as the rules read one."""

    base_version: int = BASE
    status: str | None = None
    notes: str | None = None
    ticks: Iterable[Tick] = ()


@dataclass(frozen=True)
class Row:
    """One situation: the job now, the update, what happened meanwhile, and the outcome
    expected: ``(receipt, columns written, items written, items kept)``, or ``("conflict",
    reason)``, or ``("failed", code)``."""

    update: Update
    expected: tuple[Any, ...]
    history: History = field(default_factory=History)
    status: str = "assigned"
    checklist: tuple[bool, bool] = (False, False)
    rights: Rights = ASSIGNEE
    version: int = BASE


def meanwhile(*fields: str, items: Iterable[str] = (), own: Iterable[str] = ()) -> History:
    return History(others_fields=set(fields), others_items=set(items), own_fields=set(own))


TABLE = {
    "baseVersion current": Row(
        Update(status="en_route"), ("applied", {"status": "en_route"}, {}, [])
    ),
    "stale, but others changed other fields": Row(
        Update(status="en_route"),
        ("merged", {"status": "en_route"}, {}, []),
        meanwhile("notes", "scheduled_at"),
        version=BASE + 2,
    ),
    "others changed the same field (status, notes): status": Row(
        Update(status="in_progress"),
        ("conflict", "status_changed"),
        meanwhile("status"),
        status="en_route",
        version=BASE + 1,
    ),
    "others changed the same field (status, notes): notes": Row(
        Update(notes="back door"), ("conflict", "notes_changed"), meanwhile("notes"), version=5
    ),
    "job cancelled or completed meanwhile by others: cancelled": Row(
        Update(notes="done soon"),
        ("conflict", "job_cancelled"),
        meanwhile("status"),
        status="cancelled",
        version=BASE + 1,
    ),
    "job cancelled or completed meanwhile by others: completed": Row(
        Update(ticks=[Tick("item-1", True)]),
        ("conflict", "job_completed"),
        meanwhile("status"),
        status="completed",
        version=BASE + 3,
    ),
    "checklist item changed by others meanwhile: a tick applies": Row(
        Update(ticks=[Tick("item-1", True)]),
        ("merged", {}, {"item-1": True}, []),
        meanwhile(items=["item-1"]),
        version=BASE + 2,
    ),
    "checklist item changed by others meanwhile: an untick keeps theirs": Row(
        Update(ticks=[Tick("item-1", False), Tick("item-2", True)]),
        ("merged", {}, {"item-2": True}, ["item-1"]),
        meanwhile(items=["item-1"]),
        checklist=(True, False),
        version=BASE + 1,
    ),
    "every part of the mutation overruled that way": Row(
        Update(ticks=[Tick("item-1", False)]),
        ("conflict", "checklist_item_changed"),
        meanwhile(items=["item-1"]),
        checklist=(True, False),
        version=BASE + 1,
    ),
    "impossible status transition": Row(
        Update(status="completed"), ("failed", "invalid_transition"), status="assigned"
    ),
    "impossible status transition: the office walks no steps": Row(
        Update(status="en_route"), ("failed", "invalid_transition"), rights=OFFICE
    ),
    "a status this device's own later change passed": Row(
        Update(status="en_route"),
        ("applied", {}, {}, []),
        meanwhile(own=["status"]),
        status="in_progress",
        version=BASE + 1,
    ),
}


def outcome(row: Row) -> tuple[Any, ...]:
    """What the rules decide for ``row``, in the shape of its ``expected``."""
    job = {"version": row.version, "status": row.status, "notes": "ring twice"}
    checklist = dict(zip(ITEMS, row.checklist, strict=True))
    try:
        plan = plan_update(job, checklist, row.update, row.history, row.rights)
    except Superseded as superseded:
        return ("conflict", superseded.reason)
    except MutationRejected as rejected:
        return ("failed", rejected.code)
    return (receipt_outcome(row.history, plan), plan.values, plan.items, plan.kept_items)


@pytest.mark.parametrize("situation", TABLE)
def test_each_row_of_the_conflict_table(situation: str) -> None:
    assert outcome(TABLE[situation]) == TABLE[situation].expected


def test_every_row_of_the_docstring_table_has_a_case_here() -> None:
    assert rules.__doc__ is not None
    lines = rules.__doc__.splitlines()
    borders = [at for at, line in enumerate(lines) if re.fullmatch(r"=+ +=+", line)]
    width = lines[borders[0]].index(" ")
    rows = [line[:width].replace("`", "").strip() for line in lines[borders[1] + 1 : borders[2]]]
    tested = {name.split(": ")[0] for name in TABLE} | {REASSIGNED}
    assert set(rows) - {""} == tested


def test_a_cancellation_is_the_offices_not_the_assignees() -> None:
    cancel = Row(Update(status="cancelled"), ())
    assert outcome(cancel) == ("failed", "invalid_transition")
    office = Row(Update(status="cancelled"), (), rights=OFFICE, status="in_progress")
    assert outcome(office) == ("applied", {"status": "cancelled"}, {}, [])


def test_an_update_the_rules_cannot_read_fails_whatever_the_history() -> None:
    ahead = Row(Update(base_version=BASE + 1, notes="x"), ())
    assert outcome(ahead) == ("failed", "invalid_base_version")
    unknown = Row(Update(ticks=[Tick("item-9", True)]), ())
    assert outcome(unknown) == ("failed", "unknown_checklist_item")


def change(
    version: int, device: str | None, fields: Iterable[str], items: Iterable[str] = ()
) -> dict[str, Any]:
    payload = {"version": version, "fields": dict.fromkeys(fields), "items": dict.fromkeys(items)}
    return {"device_id": device, "payload": payload}


def test_history_tells_this_devices_changes_from_others() -> None:
    rows = [
        change(BASE, "other", ["status"]),  # at or before baseVersion: already seen
        change(BASE + 1, "mine", ["status"], ["item-1"]),
        change(BASE + 2, "other", ["notes"], ["item-2"]),
        change(BASE + 3, None, ["priority"]),  # the office, from no device
    ]
    history = history_since(rows, BASE, BASE + 3, "mine")
    assert history == History(True, {"notes", "priority"}, {"item-2"}, {"status"}, True)
    assert not history.others_changed("status") and history.others_changed("notes")


def test_a_history_with_versions_missing_counts_everything_as_changed_by_others() -> None:
    history = history_since([change(BASE + 2, "mine", ["notes"])], BASE, BASE + 2, "mine")
    assert not history.complete
    assert history.others_changed("status") and history.others_changed_item("item-1")
    row = Row(Update(notes="x"), ("conflict", "notes_changed"), history, version=BASE + 2)
    assert outcome(row) == row.expected
