"""Reads for a person's export: every row that references them or one of their devices,
table by table (docs/privacy.md lists each table and where it lands in the export)."""

from __future__ import annotations

from typing import Any

from piccolo.query.functions.aggregate import Count, Max, Min

from server.db.json_text import names_in
from server.db.tables import (
    Alert,
    ChangeLog,
    ChangeMember,
    CheckIn,
    Device,
    DeviceSync,
    Job,
    JobCrew,
    JobProblem,
    JobRemark,
    MutationReceipt,
    Notification,
    PasswordToken,
    Photo,
    PrivacyAcknowledgement,
    PushDelivery,
    PushPreference,
    PushSubscription,
)

NAMES_THEM = "names_them"
"""An alert's value saying whether its detail names the person (SQLite answers 0 or 1)."""


async def devices(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Device.select().where(Device.user == user_id).order_by(Device.created_at).run()
    )
    return rows


async def device_clocks(user_id: str) -> list[dict[str, Any]]:
    """What each of their sessions' syncs told: when it was last heard, how far off its clock."""
    rows: list[dict[str, Any]] = (
        await DeviceSync.select()
        .where(DeviceSync.user_id == user_id)
        .order_by(DeviceSync.last_contact_at)
        .run()
    )
    return rows


async def check_ins(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await CheckIn.select().where(CheckIn.user_id == user_id).order_by(CheckIn.received_at).run()
    )
    return rows


async def photos(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Photo.select(
            Photo.id,
            Photo.job,
            Photo.device_id,
            Photo.kind,
            Photo.content_type,
            Photo.status,
            Photo.size_bytes,
            Photo.width,
            Photo.height,
            Photo.taken_at,
            Photo.lat,
            Photo.lng,
            Photo.distance_meters,
            Photo.flags,
            Photo.created_at,
            Photo.uploaded_at,
        )
        .where(Photo.user_id == user_id)
        .order_by(Photo.created_at)
        .output(load_json=True)
        .run()
    )
    return rows


async def crew_places(user_id: str) -> list[dict[str, Any]]:
    """The crews they are on now: each job, and where in its crew (0 leads)."""
    rows: list[dict[str, Any]] = (
        await JobCrew.select(JobCrew.job.as_alias("job_id"), JobCrew.position)
        .where(JobCrew.member == user_id)
        .run()
    )
    return rows


async def times_taken_off(user_id: str) -> list[dict[str, Any]]:
    """Each change that took a job from them (a reassignment, a hand-back): job and time."""
    left = ChangeMember.select(ChangeMember.change_id).where(
        (ChangeMember.user_id == user_id) & ChangeMember.left.eq(True)
    )
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(ChangeLog.job_id, ChangeLog.occurred_at)
        .where(ChangeLog.id.is_in(left) & ChangeLog.job_id.is_not_null())
        .order_by(ChangeLog.id)
        .run()
    )
    return rows


async def jobs(job_ids: list[str]) -> list[dict[str, Any]]:
    if not job_ids:
        return []
    rows: list[dict[str, Any]] = (
        await Job.select(Job.id, Job.service_type, Job.status, Job.scheduled_at)
        .where(Job.id.is_in(job_ids))
        .order_by(Job.scheduled_at)
        .run()
    )
    return rows


async def changes_by(user_id: str) -> list[dict[str, Any]]:
    """What the change log holds of their own acts: check-ins' facts, their changes to jobs,
    their sessions' ends."""
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(
            ChangeLog.id,
            ChangeLog.kind,
            ChangeLog.job_id,
            ChangeLog.device_id,
            ChangeLog.occurred_at,
            ChangeLog.payload,
        )
        .where(ChangeLog.actor_id == user_id)
        .order_by(ChangeLog.id)
        .output(load_json=True)
        .run()
    )
    return rows


async def push_subscriptions(user_id: str) -> list[dict[str, Any]]:
    """Where their browsers take Web Push, without the keys that encrypt for them."""
    rows: list[dict[str, Any]] = (
        await PushSubscription.select(
            PushSubscription.id,
            PushSubscription.device_id,
            PushSubscription.endpoint,
            PushSubscription.created_at,
            PushSubscription.last_seen_at,
        )
        .where(PushSubscription.user_id == user_id)
        .run()
    )
    return rows


async def push_deliveries(user_id: str) -> list[dict[str, Any]]:
    """Each push sent to one of their browsers, and what became of it."""
    rows: list[dict[str, Any]] = (
        await PushDelivery.select(
            PushDelivery.id,
            PushDelivery.notification_id,
            PushDelivery.subscription_id,
            PushDelivery.locale,
            PushDelivery.push_service,
            PushDelivery.state,
            PushDelivery.reason,
            PushDelivery.attempts,
            PushDelivery.queued_at,
            PushDelivery.accepted_at,
            PushDelivery.failed_at,
            PushDelivery.displayed_at,
            PushDelivery.clicked_at,
        )
        .where(PushDelivery.user_id == user_id)
        .order_by(PushDelivery.queued_at)
        .run()
    )
    return rows


async def notifications(user_id: str) -> list[dict[str, Any]]:
    """Notifications they sent or were among the recipients of."""
    rows: list[dict[str, Any]] = (
        await Notification.select(
            Notification.id,
            Notification.kind,
            Notification.created_by,
            Notification.title,
            Notification.body,
            Notification.url,
            Notification.job_id,
            Notification.send_at,
            Notification.status,
            Notification.created_at,
        )
        .where((Notification.created_by == user_id) | names_in("notification.recipients", user_id))
        .order_by(Notification.created_at)
        .output(load_json=True)
        .run()
    )
    return rows


async def push_preference(user_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await PushPreference.select()
        .where(PushPreference.user_id == user_id)
        .first()
        .output(load_json=True)
        .run()
    )
    return row


async def password_links(user_id: str) -> list[dict[str, Any]]:
    """Their invitation and reset links: when made, until when, whether used; never the hash."""
    rows: list[dict[str, Any]] = (
        await PasswordToken.select(
            PasswordToken.id,
            PasswordToken.purpose,
            PasswordToken.created_at,
            PasswordToken.expires_at,
            PasswordToken.used_at,
        )
        .where(PasswordToken.user_id == user_id)
        .order_by(PasswordToken.created_at)
        .run()
    )
    return rows


async def acknowledgements(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await PrivacyAcknowledgement.select()
        .where(PrivacyAcknowledgement.user_id == user_id)
        .order_by(PrivacyAcknowledgement.acknowledged_at)
        .run()
    )
    return rows


async def remarks(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await JobRemark.select()
        .where(JobRemark.author_id == user_id)
        .order_by(JobRemark.created_at)
        .run()
    )
    return rows


async def problems(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await JobProblem.select()
        .where(JobProblem.user_id == user_id)
        .order_by(JobProblem.received_at)
        .run()
    )
    return rows


async def alerts(user_id: str) -> list[dict[str, Any]]:
    """Alerts about them (their detail names them: away from the job, a refused change, a
    problem they reported, a late start of their crew) or acknowledged by them; each says
    which in :data:`NAMES_THEM`."""
    names_them = names_in("alert.detail", user_id)
    rows: list[dict[str, Any]] = (
        await Alert.select(*Alert.all_columns(), names_them.querystring.as_alias(NAMES_THEM))
        .where(names_them | (Alert.acknowledged_by == user_id))
        .order_by(Alert.raised_at)
        .output(load_json=True)
        .run()
    )
    return rows


async def receipts(user_id: str) -> list[dict[str, Any]]:
    """Their offline changes' receipts: what each was and what became of it (the stored
    answer too; the request body's hash is no data of theirs)."""
    rows: list[dict[str, Any]] = (
        await MutationReceipt.select(
            MutationReceipt.mutation_id,
            MutationReceipt.device_id,
            MutationReceipt.kind,
            MutationReceipt.job_id,
            MutationReceipt.outcome,
            MutationReceipt.code,
            MutationReceipt.reason,
            MutationReceipt.result,
            MutationReceipt.change_id,
            MutationReceipt.client_time,
            MutationReceipt.received_at,
        )
        .where(MutationReceipt.user_id == user_id)
        .order_by(MutationReceipt.id)
        .output(load_json=True)
        .run()
    )
    return rows


async def receipt_counts(user_id: str) -> list[dict[str, Any]]:
    """Their offline changes' receipts, counted by kind and outcome, first and last."""
    rows: list[dict[str, Any]] = (
        await MutationReceipt.select(
            MutationReceipt.kind,
            MutationReceipt.outcome,
            Count(MutationReceipt.id, alias="total"),
            Min(MutationReceipt.received_at, alias="first"),
            Max(MutationReceipt.received_at, alias="last"),
        )
        .where(MutationReceipt.user_id == user_id)
        .group_by(MutationReceipt.kind, MutationReceipt.outcome)
        .run()
    )
    return rows
