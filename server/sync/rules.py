"""The conflict rules of offline sync, as plain functions over plain data.

A phone edits a job offline against the ``version`` it last saw (``baseVersion``). When it
syncs, the job's change history after that version says what others changed meanwhile
(:class:`History`), and :func:`plan_update` decides, without touching the database:

=================================================  =========================================
situation                                          outcome
=================================================  =========================================
``baseVersion`` current                            applied (receipt ``applied``)
stale, but others changed other fields             applied (receipt ``merged``)
others changed the same field (status, notes)      conflict ``status_changed``/``notes_changed``
job cancelled or completed meanwhile by others     conflict ``job_cancelled``/``job_completed``
job reassigned away meanwhile                      conflict ``job_reassigned``
checklist item changed by others meanwhile         per item: a tick applies (last writer by
                                                   receive order); an untick never undoes
                                                   their newer change (item kept)
every part of the mutation overruled that way      conflict ``checklist_item_changed``
impossible status transition                       failed ``invalid_transition``
a status this device's own later change passed     nothing to do (receipt ``applied``)
=================================================  =========================================

Conflicts keep the server's state (``resolution: server_state_kept``). Client clocks never
order anything: "meanwhile" means after ``baseVersion`` in the server's own order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.jobs.states import FINISHED, field_step_allowed

FIELD_PATH = ("assigned", "en_route", "in_progress", "completed")
RESOLUTION = "server_state_kept"


class MutationRejected(Exception):
    """The mutation cannot apply whatever the job's state: a ``failed`` answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Superseded(Exception):
    """Others changed what the mutation changes: the server's state stands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Tick(Protocol):
    item_id: str
    done: bool


class Update(Protocol):
    @property
    def base_version(self) -> int: ...
    @property
    def status(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def ticks(self) -> Iterable[Tick]: ...


@dataclass
class History:
    """What happened to one job after a phone's ``baseVersion``: which columns and checklist
    items others changed, and which this phone changed itself."""

    complete: bool = True
    others_fields: set[str] = field(default_factory=set)
    others_items: set[str] = field(default_factory=set)
    own_fields: set[str] = field(default_factory=set)
    others_touched: bool = False  # even without a field (a remark, a problem on hold already)

    def others_changed(self, column: str) -> bool:
        return not self.complete or column in self.others_fields

    def others_changed_item(self, item_id: str) -> bool:
        return not self.complete or item_id in self.others_items

    @property
    def others_changed_anything(self) -> bool:
        return (
            not self.complete
            or self.others_touched
            or bool(self.others_fields or self.others_items)
        )


def history_since(
    rows: list[dict[str, Any]], base_version: int, current_version: int, own_device: str
) -> History:
    """Read a job's change-log rows (oldest first) into what changed after ``base_version``.

    When the log no longer holds every version after it (compacted), everything counts as
    changed by others: the safe side of a conflict.
    """
    history = History()
    seen: set[int] = set()
    for row in rows:
        payload = row.get("payload") or {}
        version = payload.get("version")
        if not isinstance(version, int) or version <= base_version:
            continue
        seen.add(version)
        fields = set(payload.get("fields") or {})
        if row.get("device_id") is not None and str(row["device_id"]) == own_device:
            history.own_fields |= fields
        else:
            history.others_touched = True
            history.others_fields |= fields
            history.others_items |= set(payload.get("items") or {})
    history.complete = seen >= set(range(base_version + 1, current_version + 1))
    return history


@dataclass
class Plan:
    """What a mutation will write: columns, checklist items, and items the server kept."""

    values: dict[str, Any] = field(default_factory=dict)
    items: dict[str, bool] = field(default_factory=dict)
    kept_items: list[str] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.values or self.items)


@dataclass(frozen=True)
class Rights:
    """What the syncing user may do to the job's status: walk its field steps (the
    assignee) and cancel it (dispatchers and admins)."""

    moves: bool
    cancels: bool


def plan_update(
    job: dict[str, Any],
    checklist: dict[str, bool],
    update: Update,
    history: History,
    rights: Rights,
) -> Plan:
    """Decide one pending update against the job's current state (see the module table)."""
    if update.base_version > job["version"]:
        raise MutationRejected("invalid_base_version", "baseVersion is newer than the job.")
    unknown = [t.item_id for t in update.ticks if t.item_id not in checklist]
    if unknown:
        raise MutationRejected("unknown_checklist_item", f"No such item: {', '.join(unknown)}.")
    if job["status"] in FINISHED and history.others_changed("status"):
        raise Superseded(f"job_{job['status']}")
    plan = Plan()
    if update.status is not None and update.status != job["status"]:
        _plan_status(job["status"], update.status, history, rights, plan)
    if update.notes is not None and update.notes != job["notes"]:
        if history.others_changed("notes"):
            raise Superseded("notes_changed")
        plan.values["notes"] = update.notes
    for tick in update.ticks:
        if checklist[tick.item_id] == tick.done:
            continue
        if history.others_changed_item(tick.item_id) and not tick.done:
            plan.kept_items.append(tick.item_id)
        else:
            plan.items[tick.item_id] = tick.done
    if plan.kept_items and not plan.writes:
        raise Superseded("checklist_item_changed")
    return plan


def _plan_status(current: str, target: str, history: History, rights: Rights, plan: Plan) -> None:
    if history.others_changed("status"):
        raise Superseded("status_changed")
    cancels = target == "cancelled" and rights.cancels and current not in FINISHED
    if cancels or (rights.moves and field_step_allowed(current, target)):
        plan.values["status"] = target
    elif "status" in history.own_fields and _behind(target, current):
        return  # this device already moved the job past it (e.g. by checking in)
    elif not rights.moves and target != "cancelled":
        raise MutationRejected(
            "invalid_transition", "Only the person assigned moves a job along its steps."
        )
    else:
        raise MutationRejected("invalid_transition", f"A job cannot go from {current} to {target}.")


def _behind(target: str, current: str) -> bool:
    return (
        target in FIELD_PATH
        and current in FIELD_PATH
        and FIELD_PATH.index(target) < FIELD_PATH.index(current)
    )


def receipt_outcome(history: History, plan: Plan) -> str:
    """``applied`` when nobody else touched the job since the phone's version, else ``merged``."""
    return "merged" if history.others_changed_anything or plan.kept_items else "applied"
