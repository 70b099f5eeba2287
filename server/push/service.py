"""Notifications: a dispatcher's message to users, a team or a role (now or at ``sendAt``),
its fan-out to every subscription of its recipients, what became of each delivery, the
receipts a service worker posts, and each person's push preferences.

A notification is kept first and fanned out when due, by whichever instance takes it (see
``push/queries.py``): a scheduled send survives restarts and fires once.
Recipients are fixed when the message is sent; their subscriptions when it goes out, so a
phone subscribed in between still hears it.

Delivery states say only what is known: ``accepted`` means the push service took the push,
not that the phone showed it; ``displayed`` and ``clicked`` come from the phone itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from server.audit import service as audit
from server.core.access import Principal
from server.core.clock import local_time
from server.core.inputs import Input, Prose, Rfc3339, Text, as_uuid
from server.core.schemas import RoleName
from server.db.engine import write_transaction
from server.errors import NotificationNotFound, ValidationFailed
from server.people import queries as people_queries
from server.push import plans as push_plans
from server.push import queries

Urgency = Literal["very-low", "low", "normal", "high"]
LONGEST_TTL = 28 * 86400
FURTHEST_SEND_AT = timedelta(days=30)
MAX_RECIPIENTS = 5000
STATE_ORDER = (queries.QUEUED, queries.ACCEPTED, queries.FAILED, "displayed", "clicked")


class Localised(Input):
    th: Prose = Field(max_length=500)
    en: Prose = Field(max_length=500)


class NewNotification(Input):
    """``POST /api/mobile/notifications/send``: exactly one of ``userIds``, ``teamId`` and
    ``role``; ``title`` and ``body`` as one text or ``{"th", "en"}``."""

    user_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=500)
    team_id: uuid.UUID | None = None
    role: RoleName | None = None
    title: Annotated[Text, Field(max_length=120)] | Localised
    body: Annotated[Prose, Field(max_length=500)] | Localised = ""
    url: Text = Field("/", max_length=512)
    urgency: Urgency = "normal"
    ttl: int = Field(86400, ge=0, le=LONGEST_TTL, strict=True)
    send_at: Rfc3339 | None = None

    @model_validator(mode="after")
    def _one_audience(self) -> NewNotification:
        given = [x for x in (self.user_ids, self.team_id, self.role) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of userIds, teamId and role")
        return self

    @field_validator("url")
    @classmethod
    def _own_path(cls, value: str) -> str:
        if not same_origin_path(value):
            raise ValueError("must be a path of this app, starting with / (not // or /\\)")
        return value

    @field_validator("title")
    @classmethod
    def _title_short(cls, value: str | Localised) -> str | Localised:
        texts = [value] if isinstance(value, str) else [value.th, value.en]
        if any(not text.strip() or len(text) > 120 for text in texts):
            raise ValueError("must be 1 to 120 characters")
        return value


class NotificationReceipt(Input):
    event: Literal["displayed", "clicked"]
    delivery_id: uuid.UUID | None = None


class Preferences(Input):
    """Quiet hours in Bangkok time (``{"from": "22:00", "until": "07:00"}``, or null for
    none) and the job push kinds opted out of."""

    quiet_hours: dict[Literal["from", "until"], str] | None = None
    opted_out: list[Literal["assigned", "reassigned", "cancelled", "rescheduled"]] = Field(
        default_factory=list, max_length=4
    )

    @field_validator("quiet_hours")
    @classmethod
    def _clock_times(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if set(value) != {"from", "until"} or not all(
            push_plans.CLOCK.match(v) for v in value.values()
        ):
            raise ValueError('give {"from": "HH:MM", "until": "HH:MM"} or null')
        return value


def same_origin_path(value: str) -> bool:
    """Whether a browser resolving ``value`` against the app stays on the app's origin.

    As the WHATWG URL standard parses it: a backslash is a slash in an http(s) URL, so
    ``/\\evil.example`` is ``//evil.example``, another host; tabs and line breaks are
    dropped anywhere (``/<TAB>/evil``) and leading spaces and controls trimmed, so none may
    appear; ``javascript:`` and other schemes do not start with a slash. What is left is a
    path that starts with exactly one slash."""
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
        return False
    path = value.replace("\\", "/")
    return path.startswith("/") and not path.startswith("//") and not urlsplit(path).netloc


def _both(value: str | Localised) -> dict[str, str]:
    return {"th": value, "en": value} if isinstance(value, str) else value.model_dump()


async def send_notification(
    principal: Principal, new: NewNotification, request_id: str | None = None
) -> dict[str, Any]:
    """Keep the message for its recipients (those the sender may reach); it goes out when
    due. The send is audited."""
    recipients = await _recipients(principal, new)
    now = datetime.now(UTC)
    send_at = max(new.send_at or now, now)
    if send_at - now > FURTHEST_SEND_AT:
        raise ValidationFailed([("sendAt", "must be within 30 days")])
    notification_id = str(uuid.uuid4())
    audience = new.model_dump(mode="json", by_alias=True, include={"user_ids", "team_id", "role"})
    async with write_transaction():
        await queries.insert_notification(
            {
                "id": notification_id,
                "kind": push_plans.MESSAGE,
                "branch_id": principal.branch_id,
                "created_by": principal.user_id,
                "audience": {k: v for k, v in audience.items() if v is not None},
                "recipients": recipients,
                "title": _both(new.title),
                "body": _both(new.body),
                "url": new.url,
                "urgency": new.urgency,
                "ttl_seconds": new.ttl,
                "send_at": send_at,
            }
        )
        await audit.record(
            audit.AuditActor.user(principal.user_id, request_id),
            "notification.sent",
            "notification",
            notification_id,
            branch_id=principal.branch_id,
            detail={"recipients": len(recipients), "teamId": audience.get("teamId")},
        )
    return {
        "notificationId": notification_id,
        "recipients": len(recipients),
        "sendAt": local_time(send_at),
    }


async def _recipients(principal: Principal, new: NewNotification) -> list[str]:
    audience = principal.audience
    if not audience.everything and audience.branch_id is None:
        raise ValidationFailed([("audience", "you belong to no branch to send to")])
    branch = audience.branch_filter
    if new.user_ids is not None:
        wanted = sorted({str(u) for u in new.user_ids})
        known = {
            str(row["id"])
            for row in await queries.recipients(wanted)
            if branch is None or str(row["branch"]) == branch
        }
        unknown = [u for u in wanted if u not in known]
        if unknown:
            raise ValidationFailed(
                [("userIds", f"no active user of your branch: {', '.join(unknown[:10])}")]
            )
        return wanted
    if new.team_id is not None:
        team = await people_queries.get_team(str(new.team_id))
        if team is None or (branch is not None and str(team["branch"]) != branch):
            raise ValidationFailed([("teamId", "no such team in your branch")])
        people = await queries.members(branch_id=None, team_id=str(new.team_id), role=None)
    else:
        people = await queries.members(branch_id=branch, team_id=None, role=new.role)
    if not people:
        raise ValidationFailed([("audience", "no active user to send to")])
    if len(people) > MAX_RECIPIENTS:
        raise ValidationFailed([("audience", f"more than {MAX_RECIPIENTS} recipients")])
    return sorted(people)


async def fan_out(notifications: list[dict[str, Any]], now: datetime) -> None:
    """Within a write transaction: a queued delivery per subscription of each due
    notification's recipients; held to the end of quiet hours unless it cannot wait."""
    if not notifications:
        return
    people = sorted({str(u) for n in notifications for u in n["recipients"]})
    active = {str(row["id"]): row for row in await queries.recipients(people)}
    preferences = await queries.preference_of(people)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for subscription in await queries.subscriptions_of(people):
        by_user.setdefault(str(subscription["user_id"]), []).append(subscription)
    rows = []
    for notification in notifications:
        rings_through = notification["urgency"] == "high" or notification["kind"] == "urgent"
        for user_id in notification["recipients"]:
            if str(user_id) not in active:
                continue
            held = None if rings_through else push_plans.held_until(preferences.get(user_id), now)
            start = held or now
            for subscription in by_user.get(str(user_id), []):
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "notification_id": str(notification["id"]),
                        "subscription_id": str(subscription["id"]),
                        "user_id": str(user_id),
                        "locale": active[str(user_id)]["locale"],
                        "push_service": urlsplit(subscription["endpoint"]).hostname or "",
                        "state": queries.QUEUED,
                        "reason": "held for quiet hours" if held else None,
                        "next_attempt_at": start,
                        "expires_at": start + timedelta(seconds=notification["ttl_seconds"]),
                        "queued_at": now,
                    }
                )
    await queries.insert_deliveries(rows)
    await queries.mark_sent([str(n["id"]) for n in notifications])


async def notification_detail(principal: Principal, notification_id: str) -> dict[str, Any]:
    """The notification and its deliveries: all of them for the office of its branch; a
    recipient sees their own; anyone else gets a 404."""
    notification = await _visible(principal, notification_id)
    office = principal.audience.office_of(notification["branch_id"])
    deliveries = await queries.deliveries_of(notification_id, None if office else principal.user_id)
    counts = dict.fromkeys(STATE_ORDER, 0)
    for delivery in deliveries:
        counts[delivery["state"]] += 1
    reached = {str(d["user_id"]) for d in deliveries}
    recipients = [str(u) for u in notification["recipients"]]
    return {
        "notification": {
            "id": str(notification["id"]),
            "kind": notification["kind"],
            "status": notification["status"],
            "title": notification["title"],
            "body": notification["body"],
            "url": notification["url"],
            "urgency": notification["urgency"],
            "ttl": notification["ttl_seconds"],
            "sendAt": local_time(notification["send_at"]),
            "createdAt": local_time(notification["created_at"]),
            "jobId": str(notification["job_id"]) if notification["job_id"] else None,
            "changeId": notification["change_id"],
            "recipients": len(recipients) if office else 1,
        },
        "counts": counts,
        "deliveries": [_delivery_view(d) for d in deliveries],
        "withoutSubscription": (
            [u for u in recipients if u not in reached]
            if office and notification["status"] == queries.SENT
            else []
        ),
    }


def _delivery_view(delivery: dict[str, Any]) -> dict[str, Any]:
    def at(column: str) -> str | None:
        value = delivery[column]
        return local_time(value) if value else None

    waiting = delivery["state"] == queries.QUEUED
    return {
        "id": str(delivery["id"]),
        "userId": str(delivery["user_id"]),
        "subscriptionId": str(delivery["subscription_id"]),
        "pushService": delivery["push_service"],
        "state": delivery["state"],
        "reason": delivery["reason"],
        "attempts": delivery["attempts"],
        "nextAttemptAt": at("next_attempt_at") if waiting else None,
        "queuedAt": at("queued_at"),
        "acceptedAt": at("accepted_at"),
        "failedAt": at("failed_at"),
        "displayedAt": at("displayed_at"),
        "clickedAt": at("clicked_at"),
    }


async def _visible(principal: Principal, notification_id: str) -> dict[str, Any]:
    known = as_uuid(notification_id)
    notification = await queries.get_notification(known) if known else None
    if notification is None:
        raise NotificationNotFound()
    if principal.user_id in {str(u) for u in notification["recipients"]}:
        return notification
    if principal.audience.office_of(notification["branch_id"]):
        return notification
    raise NotificationNotFound()


async def record_receipt(
    principal: Principal, notification_id: str, receipt: NotificationReceipt
) -> dict[str, Any]:
    """A phone showed (or its person tapped) the notification. Idempotent: a receipt only
    ever moves a delivery forward, and the first time of each event is kept."""
    known = as_uuid(notification_id)
    now = datetime.now(UTC)
    async with write_transaction():
        deliveries = await queries.deliveries_of(known, principal.user_id) if known else []
        if receipt.delivery_id is not None:
            deliveries = [d for d in deliveries if str(d["id"]) == str(receipt.delivery_id)]
        else:  # not named: the phones it was sent to (one still waiting cannot have shown it)
            deliveries = [d for d in deliveries if d["state"] != queries.QUEUED]
        if not deliveries:
            raise NotificationNotFound()
        for delivery in deliveries:
            values: dict[Any, Any] = {}
            if delivery["displayed_at"] is None:
                values["displayed_at"] = now
            if receipt.event == "clicked" and delivery["clicked_at"] is None:
                values["clicked_at"] = now
            if values:
                clicked = receipt.event == "clicked" or delivery["clicked_at"] is not None
                values["state"] = queries.CLICKED if clicked else queries.DISPLAYED
                values["reason"] = None
                await queries.move_delivery_on(str(delivery["id"]), values)
                delivery.update(values)
        await queries.touch_subscriptions([str(d["subscription_id"]) for d in deliveries], now)
    return {"deliveries": [{"id": str(d["id"]), "state": d["state"]} for d in deliveries]}


async def preferences_of(principal: Principal) -> dict[str, Any]:
    row = (await queries.preference_of([principal.user_id])).get(principal.user_id)
    return _preferences_view(row)


async def save_preferences(principal: Principal, wanted: Preferences) -> dict[str, Any]:
    row = {
        "user_id": principal.user_id,
        "quiet_from": wanted.quiet_hours["from"] if wanted.quiet_hours else None,
        "quiet_until": wanted.quiet_hours["until"] if wanted.quiet_hours else None,
        "opted_out": sorted(set(wanted.opted_out)),
        "updated_at": datetime.now(UTC),
    }
    async with write_transaction():
        await queries.save_preference(row)
    return _preferences_view(row)


def _preferences_view(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"quietHours": None, "optedOut": []}
    quiet = {"from": row["quiet_from"], "until": row["quiet_until"]} if row["quiet_from"] else None
    return {"quietHours": quiet, "optedOut": list(row["opted_out"] or [])}
