"""Queries that erase what is held about one person, across the tables that hold it (the
export's reads are in ``export_queries``). The erasure's writes run inside one write
transaction."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column

from server.db.json_text import names_in
from server.db.tables import (
    Alert,
    ChangeLog,
    CheckIn,
    Device,
    DeviceSync,
    JobCrew,
    JobProblem,
    JobRemark,
    MutationReceipt,
    PasswordToken,
    Photo,
    PushDelivery,
    PushPreference,
    PushSubscription,
    User,
    WebhookDelivery,
)

UNPROCESSED = ("awaiting_upload", "queued", "processing")
CHECK_IN_FACT = "checkin.recorded"
PLACE_IN_FACTS = ("distanceMeters", "accuracyMeters")


async def person(user_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await User.select().where(User.id == user_id).first().run()
    return row


async def job_ids_of(user_id: str) -> list[str]:
    """Every job whose detail shows the person: on its crew, or theirs are its visits,
    photos, remarks or problems."""
    found: set[str] = set()
    for table, job, who in (
        (JobCrew, JobCrew.job, JobCrew.member),
        (CheckIn, CheckIn.job, CheckIn.user_id),
        (Photo, Photo.job, Photo.user_id),
        (JobRemark, JobRemark.job, JobRemark.author_id),
        (JobProblem, JobProblem.job, JobProblem.user_id),
    ):
        rows = await table.select(job.as_alias("job_id")).where(who == user_id).distinct().run()
        found.update(str(row["job_id"]) for row in rows)
    return sorted(found)


# Erasing (inside one write transaction) ------------------------------------------------


async def clear_check_in_places(user_id: str) -> int:
    """Their visits stay (time, job, in or out, on site or not); where they were goes."""
    rows = (
        await CheckIn.update(
            {
                CheckIn.lat: None,
                CheckIn.lng: None,
                CheckIn.accuracy: None,
                CheckIn.distance_meters: None,
            }
        )
        .where(CheckIn.user_id == user_id)
        .returning(CheckIn.id)
        .run()
    )
    return len(rows)


async def clear_photo_places(user_id: str) -> list[str]:
    """Their photos forget where they were taken and let go of their originals (whose EXIF
    says it too); a photo not yet processed is failed, so no worker writes a place back.
    Returns the former originals' keys."""
    rows = (
        await Photo.select(Photo.original_key)
        .where((Photo.user_id == user_id) & Photo.original_key.is_not_null())
        .run()
    )
    await (
        Photo.update(
            {
                Photo.status: "failed",
                Photo.lease_owner: None,
                Photo.lease_until: None,
                Photo.last_error: "the person was erased",
            }
        )
        .where((Photo.user_id == user_id) & Photo.status.is_in(list(UNPROCESSED)))
        .run()
    )
    await (
        Photo.update(
            {
                Photo.lat: None,
                Photo.lng: None,
                Photo.distance_meters: None,
                Photo.original_key: None,
            }
        )
        .where(Photo.user_id == user_id)
        .run()
    )
    return sorted({str(row["original_key"]) for row in rows})


async def clear_places_in_facts(user_id: str) -> int:
    """The distance and accuracy their check-ins' facts carry in the change log (for the
    CRM's events) and in any alert whose detail names them (away from the job)."""
    facts = (
        await ChangeLog.select(ChangeLog.id, ChangeLog.payload)
        .where((ChangeLog.kind == CHECK_IN_FACT) & (ChangeLog.actor_id == user_id))
        .output(load_json=True)
        .run()
    )
    for fact in facts:
        payload = fact["payload"] | {name: None for name in PLACE_IN_FACTS}
        await ChangeLog.update({ChangeLog.payload: payload}).where(ChangeLog.id == fact["id"]).run()
    alerts = (
        await Alert.select(Alert.id, Alert.detail)
        .where(names_in("alert.detail", user_id))
        .output(load_json=True)
        .run()
    )
    placed = [a for a in alerts if any(a["detail"].get(n) is not None for n in PLACE_IN_FACTS)]
    for alert in placed:
        detail = alert["detail"] | {n: None for n in PLACE_IN_FACTS if n in alert["detail"]}
        await Alert.update({Alert.detail: detail}).where(Alert.id == alert["id"]).run()
    return len(facts) + len(placed)


async def webhook_bodies_naming(user_id: str) -> list[dict[str, Any]]:
    """The CRM's copies of events that name them, in the outbox or its delivery log."""
    rows: list[dict[str, Any]] = (
        await WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.body)
        .where(names_in("webhook_delivery.body", user_id))
        .output(load_json=True)
        .run()
    )
    return rows


async def replace_webhook_body(delivery_id: str, body: dict[str, Any]) -> None:
    await (
        WebhookDelivery.update({WebhookDelivery.body: body})
        .where(WebhookDelivery.id == delivery_id)
        .run()
    )


async def delete_sessions(user_id: str) -> int:
    """Their device rows (already revoked), what syncs told of them, their browsers' push
    subscriptions and every push delivery to them (queued or what became of it: the
    notification itself stays with its other recipients), their quiet hours and password
    links."""
    gone = await Device.delete().where(Device.user == user_id).returning(Device.id).run()
    await DeviceSync.delete().where(DeviceSync.user_id == user_id).run()
    await PushSubscription.delete().where(PushSubscription.user_id == user_id).run()
    await PushDelivery.delete().where(PushDelivery.user_id == user_id).run()
    await PushPreference.delete().where(PushPreference.user_id == user_id).run()
    await PasswordToken.delete().where(PasswordToken.user_id == user_id).run()
    return len(gone)


async def delete_receipts(user_id: str) -> int:
    """Their offline changes' receipts: only their devices could replay those, and those are
    gone; each receipt's stored answer holds a check-in's distance."""
    rows = (
        await MutationReceipt.delete()
        .where(MutationReceipt.user_id == user_id)
        .returning(MutationReceipt.id)
        .run()
    )
    return len(rows)


async def replace_identity(user_id: str, placeholder: dict[Column | str, Any]) -> None:
    """Name, email, phone and password replaced, the account off for good."""
    await User.update(placeholder).where(User.id == user_id).run()


async def original_in_use(key: str) -> bool:
    """Another person's photo with the same bytes still keeps this original."""
    return bool(await Photo.exists().where(Photo.original_key == key).run())
