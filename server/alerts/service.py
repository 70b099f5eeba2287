"""Alerts for the office: raised from the change log and a scan for late starts, listed and
acknowledged by the branch's dispatchers (admins: every branch).

Planning reads the change log after the planner's cursor, as webhook planning does: what the
rows call for is worked out before the write transaction (SQLite's write lock would hold
every writer meanwhile), which then takes the cursor and writes only if no other planner
moved it since. Each alert is written once whoever decides it (``dedup_key`` is unique);
in the same transaction the one that wrote it logs ``alert.raised`` (the office's live
``alert`` event) and queues a push to the branch's dispatchers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.alerts import plans
from server.alerts import queries as alert_queries
from server.changes import queries as change_queries
from server.changes.service import record_unscoped
from server.core.access import Principal
from server.core.clock import local_time
from server.core.inputs import as_uuid
from server.db.engine import write_transaction
from server.errors import AlertNotFound
from server.push.alert_pushes import push_alert

PLAN_BATCH = 500
SCAN_PAGE = 500


async def plan_alerts(push_ttl: int, now: datetime | None = None) -> int | None:
    """Raise the alerts the log rows after the cursor call for, one batch; how many rows it
    read (None: no cursor until now, or another planner planned or is planning them)."""
    cursor = await alert_queries.plan_cursor()
    if cursor is None:
        async with write_transaction():
            await alert_queries.ensure_plan_cursor(await change_queries.newest_change_id())
        return None
    rows = await change_queries.log_rows_after(cursor, PLAN_BATCH)
    if not rows:
        return 0
    wanted = await _alerts_from(rows)
    async with write_transaction():
        if await alert_queries.lock_plan_cursor() != cursor:
            return None
        await raise_alerts(wanted, now or datetime.now(UTC), push_ttl)
        await alert_queries.move_plan_cursor(int(rows[-1]["id"]))
    return len(rows)


async def _alerts_from(rows: list[dict[str, Any]]) -> list[plans.NewAlert]:
    completed = sorted({str(r["job_id"]) for r in rows if plans.is_completion(r) and r["job_id"]})
    items = await alert_queries.checklists_of(completed)
    photos = await alert_queries.photos_of(completed)
    wanted = []
    for row in rows:
        job_id = str(row["job_id"]) if row.get("job_id") else ""
        at_completion = plans.JobAtCompletion(items.get(job_id, []), photos.get(job_id, []))
        alert = plans.alert_for(row, at_completion if job_id in completed else None)
        if alert is not None:
            wanted.append(alert)
    return wanted


async def raise_late_starts(now: datetime, late_after: timedelta, push_ttl: int) -> int:
    """Raise ``late_start`` for every job found late at ``now`` and not yet alerted; how
    many were raised."""
    fresh: list[plans.NewAlert] = []
    after: tuple[datetime, str] | None = None
    while True:
        jobs = await alert_queries.late_start_candidates(
            now - plans.LATE_START_WINDOW, now - late_after, after, SCAN_PAGE
        )
        wanted = [plans.late_start(job, now) for job in jobs]
        known = await alert_queries.known_keys([alert.dedup_key for alert in wanted])
        fresh += [alert for alert in wanted if alert.dedup_key not in known]
        if len(jobs) < SCAN_PAGE:
            break
        after = (jobs[-1]["scheduled_at"], str(jobs[-1]["id"]))
    if not fresh:
        return 0
    async with write_transaction():
        return len(await raise_alerts(fresh, now, push_ttl))


async def raise_alerts(
    wanted: list[plans.NewAlert], now: datetime, push_ttl: int
) -> list[dict[str, Any]]:
    """Within a write transaction: write the alerts not raised before, log each one raised
    and push it to its branch's dispatchers; returns those raised, as listed."""
    unique = list({alert.dedup_key: alert for alert in wanted}.values())
    rows = {str(uuid.uuid4()): alert for alert in unique}
    written = await alert_queries.insert_alerts(
        [_row(alert_id, alert, now) for alert_id, alert in rows.items()]
    )
    raised = [(alert_id, alert) for alert_id, alert in rows.items() if alert_id in written]
    if not raised:
        return []
    records = [alert_record(_row(alert_id, alert, now)) for alert_id, alert in raised]
    await record_unscoped(
        [
            {"kind": plans.ALERT_RAISED, "branch_id": alert.branch_id, "payload": {"alert": record}}
            for (_, alert), record in zip(raised, records, strict=True)
        ]
    )
    jobs = await alert_queries.jobs_by_id(sorted({a.job_id for _, a in raised if a.job_id}))
    for _, alert in raised:
        title, body = plans.push_texts(alert, jobs.get(alert.job_id or ""))
        await push_alert(
            alert.branch_id, title, body, urgent=alert.urgent, job_id=alert.job_id, ttl=push_ttl
        )
    return records


def _row(alert_id: str, alert: plans.NewAlert, now: datetime) -> dict[str, Any]:
    return {
        "id": alert_id,
        "kind": alert.kind,
        "branch_id": alert.branch_id,
        "job_id": alert.job_id,
        "dedup_key": alert.dedup_key,
        "urgent": alert.urgent,
        "detail": alert.detail,
        "raised_at": now,
        "acknowledged_at": None,
        "acknowledged_by": None,
    }


async def list_alerts(principal: Principal, open_only: bool, limit: int) -> dict[str, Any]:
    """The caller's branch's alerts (an admin's: every branch's), newest first."""
    branch = principal.audience.branch_filter
    rows = await alert_queries.list_alerts(branch, open_only, limit)
    return {"alerts": [alert_record(row) for row in rows]}


async def acknowledge_alert(principal: Principal, alert_id: str) -> dict[str, Any]:
    """Mark an alert seen; again changes nothing. Another branch's alert is not found."""
    known = as_uuid(alert_id)
    alert = await alert_queries.get_alert(known) if known else None
    if alert is None or not principal.audience.office_of(alert["branch_id"]):
        raise AlertNotFound()
    if alert["acknowledged_at"] is None:
        async with write_transaction():
            await alert_queries.acknowledge(str(alert["id"]), principal.user_id, datetime.now(UTC))
            alert = await alert_queries.get_alert(str(alert["id"]))
            assert alert is not None
            # Every board of the branch redraws without it (the same live event, ``alert``).
            await record_unscoped(
                [
                    {
                        "kind": plans.ALERT_ACKNOWLEDGED,
                        "branch_id": alert["branch_id"],
                        "actor_id": principal.user_id,
                        "payload": {"alert": alert_record(alert)},
                    }
                ]
            )
    return {"alert": alert_record(alert)}


def alert_record(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as the office reads it (in lists, the ack's answer and the live event)."""
    acknowledged = row["acknowledged_at"]
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "jobId": str(row["job_id"]) if row["job_id"] else None,
        "raisedAt": local_time(row["raised_at"]),
        "detail": row["detail"] or {},
        "acknowledgedAt": local_time(acknowledged) if acknowledged else None,
        "acknowledgedBy": str(row["acknowledged_by"]) if row["acknowledged_by"] else None,
        "urgent": bool(row["urgent"]),
    }
