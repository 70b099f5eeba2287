"""The append-only change log and the per-scope feed versions it drives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from piccolo.query.functions.aggregate import Max

from server.core.access import ALL_SCOPE, branch_scope, user_scope
from server.db.engine import (
    CHANGE_HEAD_LOCK_KEY,
    CHANGE_ID_LOCK_BASE,
    current_engine,
    enter_change_log,
    execute_many,
    insert_returning_ids,
)
from server.db.tables import (
    ChangeLog,
    ChangeLogHead,
    ChangeLogHorizon,
    ChangeMember,
    Device,
    FeedVersion,
    Job,
    User,
)

CHUNK = 500
FACT_KINDS = ("checkin.recorded", "staff.password_reset_requested", "sync.rejected")
"""Unscoped rows that only the CRM's event feed reads: no phone's feed, live stream or sync
shows them (the job change that came with a check-in already did), and compaction drops
them like any old row, never keeping one as a job's newest change."""
LOG_COLUMNS = (
    "occurred_at",
    "kind",
    "job_id",
    "branch_id",
    "assignee_id",
    "previous_assignee_id",
    "device_id",
    "actor_id",
    "payload",
)


async def append_changes(
    rows: list[dict[str, Any]], members: list[list[tuple[str, bool]]] | None = None
) -> list[int]:
    """Append ``rows`` (each with its ``change_member`` entries in ``members``, in the same
    order); returns the ids given to ``rows``, in their order.

    Must run inside a write transaction, so the log and the change it describes commit
    together or not at all. Readers see the rows once the head passes them (publish.py).
    On PostgreSQL the transaction holds, from before its first id to its commit, a lower
    bound of its ids as an advisory key: what the publisher reads (``enter_change_log``).
    """
    await enter_change_log()
    now = datetime.now(UTC)
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        args = [value for row in chunk for value in _log_values(row, now)]
        width = len(LOG_COLUMNS)
        values = ", ".join(
            "(" + ", ".join(f"${r * width + c}" for c in range(1, width + 1)) + ")"
            for r in range(len(chunk))
        )
        # One statement numbers its rows in the order given: sorted ids match ``chunk``.
        ids += await insert_returning_ids(
            f"INSERT INTO change_log ({', '.join(LOG_COLUMNS)}) VALUES {values} RETURNING id", args
        )
    entries = [
        (change_id, user_id, left)
        for change_id, named in zip(ids, members or [], strict=False)
        for user_id, left in named
    ]
    if entries:
        await execute_many(
            'INSERT INTO change_member (change_id, user_id, "left") VALUES ($1, $2, $3)', entries
        )
    return ids


def _log_values(row: dict[str, Any], now: datetime) -> list[Any]:
    return [
        now if column == "occurred_at" else _param(column, row.get(column))
        for column in LOG_COLUMNS
    ]


def _param(column: str, value: Any) -> Any:
    if column == "payload":
        return orjson.dumps(value or {}).decode()
    return str(value) if isinstance(value, UUID) else value


async def changes_after(
    after_id: int, limit: int, up_to_id: int | None = None
) -> list[dict[str, Any]]:
    """Every row after ``after_id`` up to ``up_to_id`` (default: the head), oldest first,
    payload parsed (the mirror's read)."""
    through = await visible_through() if up_to_id is None else up_to_id
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(*EVENT_COLUMNS)
        .where((ChangeLog.id > after_id) & (ChangeLog.id <= through))
        .order_by(ChangeLog.id)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
    return rows


async def newest_change_id() -> int:
    """The newest id readers may see (the head): every smaller one is visible or never
    will be, so reading after any id up to it never skips a row."""
    return await visible_through()


async def visible_through() -> int:
    row = await ChangeLogHead.select(ChangeLogHead.visible_through).first().run()
    return int(row["visible_through"]) if row else 0


async def publish_state(settled: int, target: int | None) -> tuple[int, int, int | None]:
    """PostgreSQL: the head; the newest id the sequence has given out (to a writer that
    committed, rolled back or is still running); and then, unless every id up to it is
    ``settled`` or the head already reached ``target``, the smallest id any transaction still
    appending may yet commit (its ``enter_change_log`` bound), None when there is none.

    One statement, in that order: ``pg_locks`` is read after the sequence (the lateral
    subquery needs its value), so a writer given an id up to it that is still running is
    listed. Only keys in the bounds' range count: another program's advisory key (a negative
    one, say) in the same database never holds the head back."""
    base = CHANGE_ID_LOCK_BASE
    rows = await current_engine().run_ddl(
        "SELECT s.head, s.allocated, w.lowest FROM ("
        " SELECT COALESCE((SELECT visible_through FROM change_log_head WHERE id = 1), 0)"
        " AS head, (SELECT last_value - 1 + is_called::int FROM change_log_id_seq)"
        " AS allocated) s"
        " LEFT JOIN LATERAL ("
        f" SELECT MIN(((classid::bigint << 32) | objid::bigint) - {base}) AS lowest"
        f" FROM pg_locks WHERE s.allocated > GREATEST(s.head, {int(settled)})"
        f" AND s.head < {2**62 if target is None else int(target)}"
        f" AND locktype = 'advisory' AND granted AND objsubid = 1"
        f" AND classid::bigint BETWEEN {base >> 32} AND {(1 << 31) - 1}"
        " AND pid <> pg_backend_pid()"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ") w ON true"
    )
    row = rows[0]
    lowest = None if row["lowest"] is None else int(row["lowest"])
    return int(row["head"]), int(row["allocated"] or 0), lowest


async def move_head(through: int) -> None:
    await (
        ChangeLogHead.insert(ChangeLogHead(id=1, visible_through=through))
        .on_conflict(
            target=ChangeLogHead.id,
            action="DO UPDATE",
            values=[ChangeLogHead.visible_through],
        )
        .run()
    )


async def publish_up_to(up_to_id: int) -> int:
    """PostgreSQL, outside a transaction: move the head to the newest row up to ``up_to_id``
    and raise the feed versions of the job changes it passes, in one statement (its own
    transaction); returns the head. It holds the publisher's key first, so two publishers
    never lock the same feed-version rows in another order. The scopes are those of
    ``audience.scopes_of``: everyone's, the row's branch, and each person it names (its
    ``change_member`` rows). The statement's snapshot is taken before its lock is granted, so
    the head it read may be older than another publisher left it: the head written is the
    larger of the two, and that is what it returns (no needless retry for its writer)."""
    rows = await current_engine().run_ddl(PUBLISH_UP_TO.replace("$1", str(int(up_to_id))))
    return int(rows[0]["head"])


PUBLISH_UP_TO = f"""
WITH head AS (
    SELECT pg_advisory_xact_lock({CHANGE_HEAD_LOCK_KEY}) AS locked,
    COALESCE((SELECT visible_through FROM change_log_head WHERE id = 1), 0) AS h
), upto AS (
    SELECT MAX(c.id) AS t FROM change_log c, head WHERE c.id > head.h AND c.id <= $1
), passed AS (
    SELECT c.id, c.branch_id FROM change_log c, head, upto
    WHERE c.id > head.h AND c.id <= upto.t AND c.job_id IS NOT NULL
    AND c.kind NOT IN ({", ".join(f"'{kind}'" for kind in FACT_KINDS)})
), scoped AS (
    SELECT '{ALL_SCOPE}' AS scope, MAX(id) AS version FROM passed HAVING COUNT(*) > 0
    UNION ALL
    SELECT '{branch_scope("")}' || branch_id::text, MAX(id) FROM passed
    WHERE branch_id IS NOT NULL GROUP BY branch_id
    UNION ALL
    SELECT '{user_scope("")}' || m.user_id::text, MAX(m.change_id)
    FROM change_member m JOIN passed p ON m.change_id = p.id GROUP BY m.user_id
), raised AS (
    INSERT INTO feed_version (scope, version) SELECT scope, version FROM scoped ORDER BY scope
    ON CONFLICT (scope) DO UPDATE SET version = EXCLUDED.version
    WHERE feed_version.version < EXCLUDED.version
    RETURNING 1
), moved AS (
    INSERT INTO change_log_head (id, visible_through) SELECT 1, t FROM upto WHERE t IS NOT NULL
    ON CONFLICT (id) DO UPDATE
    SET visible_through = GREATEST(change_log_head.visible_through, EXCLUDED.visible_through)
    RETURNING visible_through
)
SELECT GREATEST((SELECT MAX(visible_through) FROM moved), (SELECT h FROM head)) AS head,
    (SELECT COUNT(*) FROM raised) AS raised
"""


async def newest_id_through(up_to_id: int) -> int:
    """The newest id in the log up to ``up_to_id`` (0 if none)."""
    row = (
        await ChangeLog.select(Max(ChangeLog.id, alias="id"))
        .where(ChangeLog.id <= up_to_id)
        .first()
        .run()
    )
    return int(row["id"] or 0) if row else 0


async def version_rows(after_id: int, up_to_id: int) -> list[dict[str, Any]]:
    """The rows in ``(after_id, up_to_id]`` that may move a feed version (job changes),
    with what says whom they concern."""
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(
            ChangeLog.id,
            ChangeLog.kind,
            ChangeLog.job_id,
            ChangeLog.branch_id,
            ChangeLog.assignee_id,
            ChangeLog.previous_assignee_id,
            ChangeLog.payload,
        )
        .where((ChangeLog.id > after_id) & (ChangeLog.id <= up_to_id))
        .where(ChangeLog.job_id.is_not_null() & ChangeLog.kind.not_in(list(FACT_KINDS)))
        .order_by(ChangeLog.id)
        .output(load_json=True)
        .run()
    )
    return rows


async def raise_feed_versions(versions: dict[str, int]) -> None:
    """Within the publisher's transaction: set each scope's version (they only rise)."""
    if not versions:
        return
    await (
        FeedVersion.insert(
            *(FeedVersion(scope=scope, version=version) for scope, version in versions.items())
        )
        .on_conflict(target=FeedVersion.scope, action="DO UPDATE", values=[FeedVersion.version])
        .run()
    )


async def all_feed_versions() -> dict[str, int]:
    rows = await FeedVersion.select().run()
    return {row["scope"]: int(row["version"]) for row in rows}


async def job_changes_seen_by(
    after_id: int, up_to_id: int, limit: int, *, user_id: str | None, branch_id: str | None
) -> list[dict[str, Any]]:
    """Job change rows in ``(after_id, up_to_id]`` that concern a user (as assignee before or
    after) or a branch, or every job change when both are None; oldest first."""
    query = (
        ChangeLog.select(ChangeLog.id, ChangeLog.job_id)
        .where((ChangeLog.id > after_id) & (ChangeLog.id <= up_to_id))
        .where(ChangeLog.job_id.is_not_null() & ChangeLog.kind.not_in(list(FACT_KINDS)))
    )
    if user_id is not None:
        query = query.where(_concerns(user_id, after_id))
    if branch_id is not None:
        query = query.where(ChangeLog.branch_id == branch_id)
    rows: list[dict[str, Any]] = await query.order_by(ChangeLog.id).limit(limit).run()
    return rows


def _concerns(user_id: str, after_id: int, *, left_only: bool = False) -> Any:
    """Rows that name ``user_id`` in a crew or among those who left it (``left_only``: only
    the latter), found through ``change_member``'s ``(user_id, change_id)`` index."""
    members = ChangeMember.select(ChangeMember.change_id).where(
        (ChangeMember.user_id == user_id) & (ChangeMember.change_id > after_id)
    )
    if left_only:
        members = members.where(ChangeMember.left.eq(True))
    return ChangeLog.id.is_in(members)


async def compacted_through() -> int:
    row = await ChangeLogHorizon.select(ChangeLogHorizon.compacted_through).first().run()
    return int(row["compacted_through"]) if row else 0


async def compact_changes(
    occurred_before: datetime, keep_after: int | None = None
) -> tuple[int, int]:
    """Within a write transaction: below the newest change older than ``occurred_before``
    (and no further than ``keep_after``, rows a reader still needs, nor the head, rows no
    reader has been shown), keep only each job's newest change. Returns the new horizon and
    how many rows went."""
    newest_old = (
        await ChangeLog.select(Max(ChangeLog.id, alias="id"))
        .where(ChangeLog.occurred_at < occurred_before)
        .first()
        .run()
    )
    horizon = min(int(newest_old["id"] or 0) if newest_old else 0, await visible_through())
    if keep_after is not None:
        horizon = min(horizon, keep_after)
    previous = await compacted_through()
    if horizon <= previous:
        return previous, 0
    facts = ", ".join(f"'{kind}'" for kind in FACT_KINDS)
    doomed = await ChangeLog.raw(
        "DELETE FROM change_log WHERE id <= {} AND id NOT IN ("
        " SELECT MAX(id) FROM change_log WHERE id <= {} AND job_id IS NOT NULL"
        f" AND kind NOT IN ({facts}) GROUP BY job_id) RETURNING id",
        horizon,
        horizon,
    )
    await ChangeMember.raw(
        "DELETE FROM change_member WHERE change_id <= {}"
        " AND change_id NOT IN (SELECT id FROM change_log WHERE id <= {})",
        horizon,
        horizon,
    )
    await (
        ChangeLogHorizon.insert(ChangeLogHorizon(id=1, compacted_through=horizon))
        .on_conflict(
            target=ChangeLogHorizon.id,
            action="DO UPDATE",
            values=[ChangeLogHorizon.compacted_through],
        )
        .run()
    )
    return horizon, len(doomed)


async def job_histories(job_ids: list[str]) -> list[dict[str, Any]]:
    """The change-log rows of ``job_ids``, oldest first, payload parsed."""
    if not job_ids:
        return []
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(
            ChangeLog.id,
            ChangeLog.job_id,
            ChangeLog.device_id,
            ChangeLog.previous_assignee_id,
            ChangeLog.payload,
        )
        .where(ChangeLog.job_id.is_in(job_ids))
        .order_by(ChangeLog.id)
        .output(load_json=True)
        .run()
    )
    return rows


async def moved_away_from(user_id: str, job_ids: list[str]) -> dict[str, tuple[int, datetime]]:
    """Of ``job_ids``, those taken from ``user_id`` (off their crew): the job version at
    which it last happened, and when."""
    rows = (
        await ChangeLog.select(ChangeLog.job_id, ChangeLog.payload, ChangeLog.occurred_at)
        .where(ChangeLog.job_id.is_in(job_ids) & _concerns(user_id, 0, left_only=True))
        .output(load_json=True)
        .run()
    )
    moved: dict[str, tuple[int, datetime]] = {}
    for row in rows:
        version = (row["payload"] or {}).get("version")
        job_id = str(row["job_id"])
        if isinstance(version, int) and (job_id not in moved or version > moved[job_id][0]):
            moved[job_id] = (version, row["occurred_at"])
    return moved


EVENT_COLUMNS: tuple[Any, ...] = (
    ChangeLog.id,
    ChangeLog.kind,
    ChangeLog.job_id,
    ChangeLog.branch_id,
    ChangeLog.assignee_id,
    ChangeLog.previous_assignee_id,
    ChangeLog.device_id,
    ChangeLog.payload,
)


async def events_seen_by(
    after_id: int,
    up_to_id: int,
    limit: int,
    *,
    user_id: str | None,
    branch_id: str | None,
) -> list[dict[str, Any]]:
    """Rows in ``(after_id, up_to_id]`` that may be events for someone: for a user (staff),
    their jobs' rows and their branch's team updates; for a branch, its rows; with neither,
    every row but session revocations. Oldest first, payload parsed; the caller decides the
    audience of each row exactly."""
    query = ChangeLog.select(*EVENT_COLUMNS).where(
        (ChangeLog.id > after_id)
        & (ChangeLog.id <= up_to_id)
        & ChangeLog.kind.not_in(list(FACT_KINDS))
    )
    if user_id is not None:
        query = query.where(
            _concerns(user_id, after_id)
            | ((ChangeLog.kind == "team.update") & (ChangeLog.branch_id == branch_id))
        )
    elif branch_id is not None:
        query = query.where(ChangeLog.branch_id == branch_id)
    else:
        query = query.where(ChangeLog.kind != "session.revoked")
    rows: list[dict[str, Any]] = (
        await query.order_by(ChangeLog.id).limit(limit).output(load_json=True).run()
    )
    return rows


async def device_ids_revoked_since(since: datetime) -> list[str]:
    """Sessions signed out since ``since``: the mirror refuses their tokens from start-up."""
    rows = await Device.select(Device.id).where(Device.revoked_at >= since).run()
    return [str(row["id"]) for row in rows]


async def log_rows_after(after_id: int, limit: int) -> list[dict[str, Any]]:
    """Whole log rows after ``after_id`` up to the head, oldest first, payload parsed: what
    the CRM's event feed and the webhook planner turn into events."""
    through = await visible_through()
    rows: list[dict[str, Any]] = (
        await ChangeLog.select()
        .where((ChangeLog.id > after_id) & (ChangeLog.id <= through))
        .order_by(ChangeLog.id)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
    return rows


async def jobs_for_events(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Jobs by id, deleted ones too, with the CRM's ids of their customer and assignee."""
    if not job_ids:
        return {}
    rows = (
        await Job.select(
            *Job.all_columns(),
            Job.customer.name.as_alias("customer_name"),
            Job.customer.external_id.as_alias("customer_external_id"),
        )
        .where(Job.id.is_in(job_ids))
        .run()
    )
    return {str(row["id"]): row for row in rows}


async def people_for_events(user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """People by id: who they are to the CRM (its id for them) and how to reach them."""
    if not user_ids:
        return {}
    rows = (
        await User.select(User.id, User.external_id, User.email, User.name, User.phone, User.locale)
        .where(User.id.is_in(user_ids))
        .run()
    )
    return {str(row["id"]): row for row in rows}


async def placement_changes_since(since: datetime) -> list[dict[str, Any]]:
    """The ``user.changed`` facts logged since ``since``, oldest first (what the change
    mirror loads at start: a token issued before such a change may still be live)."""
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(ChangeLog.id, ChangeLog.kind, ChangeLog.payload)
        .where((ChangeLog.kind == "user.changed") & (ChangeLog.occurred_at >= since))
        .order_by(ChangeLog.id)
        .output(load_json=True)
        .run()
    )
    return rows
