"""Piccolo tables: the whole stored model.

Tables carry no engine of their own: ``server.db.engine.bind_engine`` points them at the
SQLite or PostgreSQL engine chosen by the settings, so one process can serve either.

The change log is the spine of the design. Every change to a job (or a session) appends one row
in the same transaction as the change; its monotonic ``id`` is at once the offline-sync cursor
("everything after N") and the live-update event id, so the two can never disagree.
``feed_version`` keeps, per audience scope ("all", "branch:<id>", "user:<id>"), the id of the
newest change that scope can see: a cheap validator for cached feed pages.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzCustom, TimestamptzNow
from piccolo.table import Table


class Branch(Table, tablename="branch"):
    id = UUID(primary_key=True)
    name = Varchar(length=120)
    external_id = Varchar(length=128, null=True, default=None)  # the CRM's id (unique)
    version = Integer(default=1)


class Team(Table, tablename="team"):
    id = UUID(primary_key=True)
    name = Varchar(length=120)
    branch = ForeignKey(references=Branch, null=False, on_delete=OnDelete.restrict)
    external_id = Varchar(length=128, null=True, default=None)  # the CRM's id (unique)
    version = Integer(default=1)


class User(Table, tablename="app_user"):
    id = UUID(primary_key=True)
    email = Varchar(length=254, unique=True)
    name = Varchar(length=200)
    role = Varchar(length=16, default="staff")
    team = ForeignKey(references=Team, null=True, on_delete=OnDelete.set_null)
    branch = ForeignKey(references=Branch, null=True, on_delete=OnDelete.set_null)
    locale = Varchar(length=2, default="th")
    password_hash = Text()  # empty: no password yet (invited)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    phone = Varchar(length=40, default="")
    external_id = Varchar(length=128, null=True, default=None)  # the CRM's id (unique)
    version = Integer(default=1)
    erased_at = Timestamptz(null=True, default=None)  # their personal data erased (PDPA)


class Device(Table, tablename="device"):
    """One signed-in session on one phone or browser; its refresh tokens form one family."""

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, null=False, index=True)
    client_id = Varchar(length=128)
    name = Varchar(length=120, default="")
    platform = Varchar(length=40, default="")
    refresh_generation = Integer(default=0)
    revoked_at = Timestamptz(null=True, default=None)
    revoked_reason = Varchar(length=40, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())


class Customer(Table, tablename="customer"):
    id = UUID(primary_key=True)
    branch = ForeignKey(references=Branch, null=False, on_delete=OnDelete.restrict)
    name = Varchar(length=200)
    phone = Varchar(length=40, default="")
    line_id = Varchar(length=80, default="")
    address = Text(default="")
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    access_notes = Text(default="")
    external_id = Varchar(length=128, null=True, default=None)  # the CRM's id (unique)
    version = Integer(default=1)


class Job(Table, tablename="job"):
    id = UUID(primary_key=True)
    branch = ForeignKey(references=Branch, null=False, on_delete=OnDelete.restrict)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.restrict)
    service_type = Varchar(length=60)
    status = Varchar(length=16, default="pending")
    priority = Varchar(length=8, default="normal")
    scheduled_at = Timestamptz()
    duration_minutes = Integer(default=120)
    assignee = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    address = Text(default="")
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    notes = Text(default="")
    version = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)
    external_id = Varchar(length=128, null=True, default=None)  # the CRM's id (unique)
    crew = Text(default="")  # the crew's user ids, lead first, space-separated (job_crew too)
    own_address = Boolean(default=False)  # its address is its own, not the customer's


class JobCrew(Table, tablename="job_crew"):
    """Who works a job, one row per person (the lead at position 0): what a staff member's
    feed walks, in the job's time order (``scheduled_at`` is the job's, kept in step by the
    writer). ``job.crew`` holds the same ids in order, for showing them."""

    id = BigSerial(primary_key=True)
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.cascade)
    member = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    position = Integer(default=0)
    scheduled_at = Timestamptz()


class ChecklistItem(Table, tablename="checklist_item"):
    id = UUID(primary_key=True)
    job = ForeignKey(references=Job, null=False)
    position = Integer(default=0)
    label = Varchar(length=200)
    done = Boolean(default=False)
    done_at = Timestamptz(null=True, default=None)


class ChangeLog(Table, tablename="change_log"):
    """Append-only. Scope columns say who may see the change; ``payload`` says what it was."""

    id = BigSerial(primary_key=True)
    occurred_at = Timestamptz(default=TimestamptzNow())
    kind = Varchar(length=40)
    job_id = UUID(null=True, default=None)
    branch_id = UUID(null=True, default=None)
    assignee_id = UUID(null=True, default=None)
    previous_assignee_id = UUID(null=True, default=None)
    device_id = UUID(null=True, default=None)
    actor_id = UUID(null=True, default=None)
    payload = JSON(default="{}")


class ChangeMember(Table, tablename="change_member"):
    """People a job change concerns beyond its lead columns: crew members other than the
    lead (``left`` false) and people the change took the job from (``left`` true), so each
    one's sync and live replay find it through an index."""

    id = BigSerial(primary_key=True)
    change_id = BigInt()
    user_id = UUID()
    left = Boolean(default=False)


class FeedVersion(Table, tablename="feed_version"):
    scope = Varchar(length=64, primary_key=True)
    version = BigInt(default=0)


class ChangeLogHorizon(Table, tablename="change_log_horizon"):
    """How far compaction has gone: below ``compacted_through`` the log keeps only each
    job's newest change, so a sync cursor older than that must reload from 0. One row."""

    id = Integer(primary_key=True)
    compacted_through = BigInt(default=0)


class ChangeLogHead(Table, tablename="change_log_head"):
    """How far readers may read the change log: every id up to ``visible_through`` is
    committed or will never be (server/changes/publish.py moves it). One row."""

    id = Integer(primary_key=True)
    visible_through = BigInt(default=0)


class MutationReceipt(Table, tablename="mutation_receipt"):
    """The stored outcome of one offline mutation, written in the same transaction as its
    effect: (user, mutation_id) is unique, so a replay finds it and changes nothing."""

    id = BigSerial(primary_key=True)
    user_id = UUID()
    device_id = UUID(null=True, default=None)
    mutation_id = Varchar(length=128)
    kind = Varchar(length=16)
    job_id = UUID(null=True, default=None)
    body_hash = Varchar(length=64)
    outcome = Varchar(length=16)
    code = Varchar(length=40, null=True, default=None)
    reason = Text(default="")
    result = JSON(default="{}")
    change_id = BigInt(null=True, default=None)
    client_time = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())


class CheckIn(Table, tablename="check_in"):
    """Proof of a visit. Append-only; its coordinates are purged after the retention period
    (the visit itself, its times, distance and geofence verdict stay)."""

    id = UUID(primary_key=True)
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.restrict)
    user_id = UUID()
    device_id = UUID(null=True, default=None)
    mutation_id = Varchar(length=128)
    type = Varchar(length=3)
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    accuracy = DoublePrecision(null=True, default=None)
    device_time = Timestamptz()
    recorded_time = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())
    clock_skew_seconds = DoublePrecision(null=True, default=None)
    distance_meters = DoublePrecision(null=True, default=None)
    within_geofence = Boolean(null=True, default=None)
    location_missing = Boolean(default=False)  # the phone gave no place (permission denied)


class DeviceSync(Table, tablename="device_sync"):
    """What the server last learnt from a device session: when it was heard from and how far
    its clock is off (device time minus server time, measured at each sync)."""

    device_id = UUID(primary_key=True)
    user_id = UUID()
    last_contact_at = Timestamptz(default=TimestamptzNow())
    clock_skew_seconds = DoublePrecision(null=True, default=None)


class Photo(Table, tablename="photo"):
    """A job photo: its row is made when an upload is asked for, filled when the bytes land,
    and doubles as the processing queue (``status`` queued -> processing -> ready | failed,
    claimed under a lease so a killed worker's photo is taken up again). A row whose bytes
    turned out to be another photo of the job's is ``duplicate`` and names it.

    Objects are content-addressed: the original under its SHA-256, each variant likewise.
    ``lat``/``lng`` (from EXIF) are evidence, purged after the check-in retention period."""

    id = UUID(primary_key=True)
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.restrict)
    user_id = UUID()
    device_id = UUID(null=True, default=None)
    duplicate_of = UUID(null=True, default=None)  # same bytes as that photo of the job
    kind = Varchar(length=8)
    content_type = Varchar(length=32)
    status = Varchar(length=16, default="awaiting_upload")
    upload_expires_at = Timestamptz()
    content_hash = Varchar(length=64, null=True, default=None)
    original_key = Varchar(length=200, null=True, default=None)
    size_bytes = Integer(null=True, default=None)
    width = Integer(null=True, default=None)
    height = Integer(null=True, default=None)
    variants = JSON(default="[]")
    taken_at = Timestamptz(null=True, default=None)
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    distance_meters = DoublePrecision(null=True, default=None)
    flags = JSON(default="[]")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    lease_owner = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    attached_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    uploaded_at = Timestamptz(null=True, default=None)
    processed_at = Timestamptz(null=True, default=None)


class PushSubscription(Table, tablename="push_subscription"):
    """A browser's Web Push subscription: where to send (``endpoint``, one row each) and the
    keys to encrypt for it (RFC 8291), for the person signed in on that browser."""

    id = UUID(primary_key=True)
    user_id = UUID(index=True)
    device_id = UUID(null=True, default=None)
    endpoint = Varchar(length=1024, unique=True)
    p256dh = Varchar(length=100)
    auth = Varchar(length=40)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())


class Notification(Table, tablename="notification"):
    """Something to tell people by Web Push: a dispatcher's message (to users, a team or a
    role, now or at ``send_at``) or a job change that matters with the app closed. Title and
    body are kept per language; each recipient gets theirs. ``status`` is ``scheduled`` until
    its deliveries are made (once, by whichever instance takes it), then ``sent``."""

    id = UUID(primary_key=True)
    kind = Varchar(length=16)
    branch_id = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    audience = JSON(default="{}")
    recipients = JSON(default="[]")
    title = JSON(default="{}")
    body = JSON(default="{}")
    url = Varchar(length=512, default="/")
    urgency = Varchar(length=10, default="normal")
    ttl_seconds = Integer(default=86400)
    topic = Varchar(length=32, null=True, default=None)
    job_id = UUID(null=True, default=None)
    change_id = BigInt(null=True, default=None)
    send_at = Timestamptz(default=TimestamptzNow())
    status = Varchar(length=12, default="scheduled")
    created_at = Timestamptz(default=TimestamptzNow())


class PushDelivery(Table, tablename="push_delivery"):
    """One notification to one subscription, and what became of it: ``queued`` (waiting,
    or retrying after ``next_attempt_at``), ``accepted`` (the push service took it: not yet
    proof the phone showed it), ``failed`` (with ``reason``), ``displayed`` and ``clicked``
    (receipts from the service worker). Claimed under a lease like the photo queue."""

    id = UUID(primary_key=True)
    notification_id = UUID()
    subscription_id = UUID()
    user_id = UUID()
    locale = Varchar(length=2, default="th")
    push_service = Varchar(length=255, default="")
    state = Varchar(length=12, default="queued")
    reason = Varchar(length=200, null=True, default=None)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(default=TimestamptzNow())
    lease_owner = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    queued_at = Timestamptz(default=TimestamptzNow())
    accepted_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)
    displayed_at = Timestamptz(null=True, default=None)
    clicked_at = Timestamptz(null=True, default=None)


class PushPreference(Table, tablename="push_preference"):
    """A person's quiet hours (Bangkok time, may span midnight) and the kinds of job push
    they opted out of. No row: no quiet hours, every kind."""

    user_id = UUID(primary_key=True)
    quiet_from = Varchar(length=5, null=True, default=None)
    quiet_until = Varchar(length=5, null=True, default=None)
    opted_out = JSON(default="[]")
    updated_at = Timestamptz(default=TimestamptzNow())


class PushPlanCursor(Table, tablename="push_plan_cursor"):
    """How far the change log has been turned into job pushes. One row, locked while an
    instance plans, so each change is planned once across instances and restarts."""

    id = Integer(primary_key=True)
    last_change_id = BigInt(default=0)


class ApiKey(Table, tablename="api_key"):
    """A server-to-server key of the office CRM: only its SHA-256 is kept (the key itself,
    ``tk_`` and 32 random bytes, is shown once), with the scopes it may use."""

    id = UUID(primary_key=True)
    name = Varchar(length=120)
    prefix = Varchar(length=16)  # the key's first characters, to tell keys apart in a list
    key_hash = Varchar(length=64, unique=True)
    scopes = JSON(default="[]")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class PasswordToken(Table, tablename="password_token"):
    """A one-time link to set a password (``invite``) or to reset a forgotten one
    (``reset``); only its SHA-256 is kept, and ``used_at`` spends it."""

    id = UUID(primary_key=True)
    user_id = UUID(index=True)
    purpose = Varchar(length=8)
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    """Where the CRM wants the field's events pushed, signed with ``secret`` (Standard
    Webhooks); after a rotation the old secret signs too until ``previous_secret_until``."""

    id = UUID(primary_key=True)
    url = Varchar(length=2048)
    events = JSON(default="[]")
    description = Text(default="")
    secret = Varchar(length=100)
    previous_secret = Varchar(length=100, null=True, default=None)
    previous_secret_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    failing_since = Timestamptz(null=True, default=None)
    disabled_at = Timestamptz(null=True, default=None)
    deleted_at = Timestamptz(null=True, default=None)


class WebhookDelivery(Table, tablename="webhook_delivery"):
    """One event to one endpoint, and what became of it: the outbox and the delivery log.
    ``queued`` (waiting, or retrying after ``next_attempt_at``) -> ``delivered`` | ``failed``;
    claimed under a lease like the push queue. ``event_id`` is the change-log id."""

    id = UUID(primary_key=True)
    endpoint_id = UUID()
    event_id = BigInt()
    event_type = Varchar(length=40)
    job_id = UUID(null=True, default=None)
    body = JSON(default="{}")
    state = Varchar(length=12, default="queued")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    lease_owner = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    last_status = Integer(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class WebhookPlanCursor(Table, tablename="webhook_plan_cursor"):
    """How far the change log has been turned into webhook deliveries (as for job pushes)."""

    id = Integer(primary_key=True)
    last_change_id = BigInt(default=0)


class JobProblem(Table, tablename="job_problem"):
    """A problem the field reported on a job (customer absent, no access...): the job went on
    hold and the office was alerted. Append-only; idempotent through the sync receipt."""

    id = UUID(primary_key=True)
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.restrict)
    user_id = UUID()
    device_id = UUID(null=True, default=None)
    mutation_id = Varchar(length=128)
    reason = Varchar(length=24)
    note = Text(default="")
    photo_id = UUID(null=True, default=None)
    reported_at = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())


class JobRemark(Table, tablename="job_remark"):
    """A remark from the field ("dog in the garden"): append-only, beside the office's notes,
    never instead of them."""

    id = UUID(primary_key=True)
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.restrict)
    author_id = UUID()
    mutation_id = Varchar(length=128)
    text = Text()
    created_at = Timestamptz()


class Alert(Table, tablename="alert"):
    """Something the office should look at (a late start, a check-in far away...). Raised once:
    ``dedup_key`` is unique, so two instances deciding the same alert write one row."""

    id = UUID(primary_key=True)
    kind = Varchar(length=32)
    branch_id = UUID()
    job_id = UUID(null=True, default=None)
    dedup_key = Varchar(length=200)
    urgent = Boolean(default=False)
    detail = JSON(default="{}")
    raised_at = Timestamptz(default=TimestamptzNow())
    acknowledged_at = Timestamptz(null=True, default=None)
    acknowledged_by = UUID(null=True, default=None)


class AlertPlanCursor(Table, tablename="alert_plan_cursor"):
    """How far the alert planner has read the change log (one row, locked while planning)."""

    id = Integer(primary_key=True)
    last_change_id = BigInt(default=0)


class AuditEvent(Table, tablename="audit_event"):
    """Who did what to which job, device or person: append-only (the database's triggers
    refuse any update, and any delete but the retention purge's of rows older than
    :class:`AuditPurgeHorizon`), written in the same transaction as the act it records."""

    id = BigSerial(primary_key=True)
    occurred_at = Timestamptz(default=TimestamptzNow())
    actor_kind = Varchar(length=12)  # user | api_key | system
    actor_id = UUID(null=True, default=None)
    action = Varchar(length=48)
    target_kind = Varchar(length=16)  # job | device | user | ...
    target_id = Varchar(length=128, default="")
    branch_id = UUID(null=True, default=None)
    request_id = Varchar(length=64, null=True, default=None)
    detail = JSON(default="{}")


class AuditPurgeHorizon(Table, tablename="audit_purge_horizon"):
    """How far the retention purge may delete: the database refuses to delete an audit event
    not older than ``purged_before``, which only moves forward and never past the shortest
    retention. One row (server/audit/service.py moves it)."""

    id = Integer(primary_key=True)
    purged_before = Timestamptz(default=TimestamptzCustom(year=1970))


class PrivacyAcknowledgement(Table, tablename="privacy_acknowledgement"):
    """A person read the notice of what location and photos are collected, why and for how
    long (Thailand's PDPA), in this version of it, on this device."""

    id = UUID(primary_key=True)
    user_id = UUID(index=True)
    device_id = UUID(null=True, default=None)
    notice_version = Varchar(length=16)
    locale = Varchar(length=2, default="th")
    acknowledged_at = Timestamptz(default=TimestamptzNow())


class ScheduledRun(Table, tablename="scheduled_run"):
    """A job the product runs by itself on a schedule (retention purges): whichever instance
    claims the row under a lease when it is due runs it, so it runs once across instances."""

    name = Varchar(length=40, primary_key=True)
    next_run_at = Timestamptz(default=TimestamptzNow())
    lease_owner = Varchar(length=64, null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    last_run_at = Timestamptz(null=True, default=None)
    last_result = JSON(default="{}")
    last_success_at = Timestamptz(null=True, default=None)
    failures = Integer(default=0)  # runs failed since the last success


ALL_TABLES: tuple[type[Table], ...] = (
    Branch,
    Team,
    User,
    Device,
    Customer,
    Job,
    JobCrew,
    ChecklistItem,
    ChangeLog,
    ChangeMember,
    FeedVersion,
    ChangeLogHorizon,
    ChangeLogHead,
    MutationReceipt,
    CheckIn,
    DeviceSync,
    Photo,
    PushSubscription,
    Notification,
    PushDelivery,
    PushPreference,
    PushPlanCursor,
    ApiKey,
    PasswordToken,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookPlanCursor,
    JobProblem,
    JobRemark,
    Alert,
    AlertPlanCursor,
    AuditEvent,
    AuditPurgeHorizon,
    PrivacyAcknowledgement,
    ScheduledRun,
)
