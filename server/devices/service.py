"""The dispatcher's view of the phones in the field: who synced when, whose clock is off, and
which changes the server refused or overruled."""

from __future__ import annotations

from typing import Any

from server.audit import service as audit
from server.auth import queries as device_queries
from server.auth.service import revoke_session
from server.core.access import Principal, Role
from server.core.clock import local_time
from server.errors import DeviceNotFound

MAX_DEVICES = 1000
APPLIED = ("applied", "merged")
REFUSED = ("rejected", "superseded")


async def device_overview(principal: Principal) -> dict[str, Any]:
    """``{"devices": [...]}`` for the caller's branch (admins: every branch)."""
    branch = principal.audience.branch_filter
    devices = await device_queries.staff_devices(branch, MAX_DEVICES)
    ids = [str(device["id"]) for device in devices]
    states = await device_queries.sync_states(ids)
    tallies: dict[str, dict[str, dict[str, Any]]] = {}
    for row in await device_queries.receipt_tallies(ids):
        tallies.setdefault(str(row["device_id"]), {})[row["outcome"]] = row
    newest = await device_queries.receipts_by_id(
        [int(row["newest"]) for per in tallies.values() for row in per.values()]
    )
    receipts = {int(row["id"]): row for row in newest}
    return {
        "devices": [
            _device(
                device, states.get(str(device["id"])), tallies.get(str(device["id"]), {}), receipts
            )
            for device in devices
        ]
    }


async def revoke_device(
    principal: Principal, device_id: str, request_id: str | None = None
) -> None:
    """Sign a staff member's phone out for good (lost, stolen, handed on). A dispatcher may
    revoke their branch's staff devices; an admin any device. Others' look like no device."""
    owner = await device_queries.device_owner(device_id)
    audience = principal.audience
    in_scope = owner is not None and (
        audience.everything
        or (owner["role"] == Role.STAFF and audience.office_of(owner["branch_id"]))
    )
    if owner is None or not in_scope:
        raise DeviceNotFound()
    by = audit.AuditActor.user(principal.user_id, request_id)
    await revoke_session(device_id, str(owner["user_id"]), "revoked", by)


def _device(
    device: dict[str, Any],
    state: dict[str, Any] | None,
    tally: dict[str, dict[str, Any]],
    receipts: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    contact = (
        max(device["last_seen_at"], state["last_contact_at"]) if state else device["last_seen_at"]
    )
    return {
        "id": str(device["id"]),
        "clientId": device["client_id"],
        "name": device["name"],
        "platform": device["platform"],
        "userId": str(device["user_id"]),
        "userName": device["user_name"],
        "lastContactAt": local_time(contact),
        "clockSkewSeconds": state["clock_skew_seconds"] if state else None,
        "lastAppliedMutation": _newest(tally, APPLIED, receipts),
        "rejectedCount": int(tally.get("rejected", {}).get("total", 0)),
        "supersededCount": int(tally.get("superseded", {}).get("total", 0)),
        "latestRefused": _newest(tally, REFUSED, receipts),
    }


def _newest(
    tally: dict[str, dict[str, Any]], outcomes: tuple[str, ...], receipts: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    ids = [int(tally[o]["newest"]) for o in outcomes if o in tally]
    if not ids:
        return None
    row = receipts[max(ids)]
    return {
        "mutationId": row["mutation_id"],
        "jobId": None if row["job_id"] is None else str(row["job_id"]),
        "outcome": row["outcome"],
        "code": row["code"],
        "receivedAt": local_time(row["received_at"]),
    }
