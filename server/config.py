"""Typed settings, read once from the environment.

No other module reads ``os.environ``: everything that can be configured is a field here, and
``.env.example`` lists every field (a test keeps the two in step).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.core.private_files import create_private_file

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Everything the server can be told from outside, with safe defaults."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Local state: SQLite file, secret key.")
    database_url: str = Field(
        "", description="sqlite:///path or postgres://user@host:port/db; default var/tinedy.sqlite3"
    )
    db_pool_min: int = Field(2, ge=1, description="PostgreSQL pool: connections kept open.")
    db_pool_max: int = Field(10, ge=1, description="PostgreSQL pool: most connections per worker.")
    db_connect_timeout_seconds: float = Field(
        3.0, gt=0, description="PostgreSQL: longest wait for a new connection (then 503)."
    )
    db_command_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="PostgreSQL: longest a statement may run, or wait for a pooled connection.",
    )
    sqlite_busy_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the lock.")
    secret_key: str = Field("", description="Signs tokens and cursors; generated when empty.")
    demo: bool = Field(False, description="Demo mode: allows seed-demo and prints the logins.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    proxies_count: int = Field(0, ge=0, description="Trusted reverse proxies in front of us.")
    access_token_seconds: int = Field(900, ge=30)
    max_devices_per_user: int = Field(
        10,
        ge=1,
        le=100,
        description="Devices one person may be signed in on; signing in on one more signs "
        "out the one least recently seen.",
    )
    refresh_token_seconds: int = Field(30 * 24 * 3600, ge=300)
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure session cookies: auto = when the request came over https."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest JSON request body.")
    sync_max_body_bytes: int = Field(
        4_194_304, ge=1024, description="Largest sync batch body (up to 1,000 mutations)."
    )
    geofence_radius_meters: float = Field(
        150.0, gt=0, le=10_000, description="A check-in this close to the job is on site."
    )
    location_retention_days: int = Field(
        90, ge=1, description="Days check-in coordinates are kept before purge-locations."
    )
    change_log_retention_days: int = Field(
        30, ge=1, description="Days of full change history compact-changes keeps."
    )
    audit_retention_days: int = Field(
        400, ge=30, description="Days audit events are kept before the retention purge."
    )
    retention_schedule: bool = Field(
        True,
        description="This instance's workers run the retention purges daily at "
        "RETENTION_RUN_AT, once across instances (false: run them yourself).",
    )
    retention_run_at: str = Field(
        "03:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="When the retention purges run each day, Bangkok time (HH:MM).",
    )
    schedule_poll_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often each worker looks for scheduled work due."
    )
    cache_url: str = Field("memory://", description="memory:// or redis://host:port/db")
    rate_limit_url: str = Field("memory://", description="memory:// or redis://host:port/db")
    login_failures_per_account: str = Field(
        "5 per 15 minutes",
        description="Failed sign-ins at one account from one address (IPv6: its /64), then "
        "429 for that address only.",
    )
    login_failures_per_address: str = Field(
        "50 per 15 minutes",
        description="Failed sign-ins from one address (IPv6: its /64) at any accounts, then 429.",
    )
    login_failures_account_ceiling: str = Field(
        "100 per 15 minutes",
        description="Failed sign-ins at one account from all addresses; past it, each address "
        "gets one try per window (a delay, never a lockout).",
    )
    password_hash_threads: int = Field(
        2, ge=1, le=64, description="Threads per worker for Argon2 (64 MiB each while hashing)."
    )
    password_hash_queue: int = Field(
        64, ge=0, description="Password checks that may wait per worker; past it 503 at once."
    )
    rate_limit_reads: str = Field(
        "600 per minute",
        description="GETs one device may make (a person: RATE_LIMIT_USER_FACTOR times).",
    )
    rate_limit_sync: str = Field(
        "120 per minute", description="Sync batches, check-ins and job steps per device."
    )
    rate_limit_uploads: str = Field(
        "120 per minute", description="Upload URLs and photo uploads per device (or address)."
    )
    rate_limit_dispatch: str = Field(
        "300 per minute", description="Dispatch and alert writes and notifications per device."
    )
    rate_limit_writes: str = Field(
        "120 per minute", description="Other writes (push, preferences, receipts) per device."
    )
    rate_limit_sign_in: str = Field(
        "300 per minute",
        description="Sign-in, refresh, sign-out and password routes per address (IPv6: /64).",
    )
    rate_limit_user_factor: int = Field(
        2, ge=1, le=100, description="A person's budget per route class, in device budgets."
    )
    live_streams_per_device: int = Field(
        4,
        ge=1,
        le=100,
        description="Live streams one device may hold open per worker; more get 429.",
    )
    live_streams_per_user: int = Field(
        8,
        ge=1,
        le=1000,
        description="Live streams one person may hold open per worker; more get 429.",
    )
    change_poll_seconds: float = Field(
        0.1, gt=0, le=5, description="How often each worker reads new change-log rows."
    )
    live_heartbeat_seconds: float = Field(
        15, gt=0, le=20, description="A live stream's heartbeat comment when nothing happens."
    )
    live_queue_limit: int = Field(
        2048, ge=8, description="Events a live stream may fall behind before it is dropped."
    )
    app_shell_dir: Path = Field(
        Path("cdn/dist"), description="The app shell's build (python -m cdn.build writes it)."
    )
    templates_dir: Path = Field(
        Path("."), description="Where manifest_templates/ and sw_templates/ are."
    )
    app_origin: str = Field(
        "", description="The app's own origin for WebSocket Origin checks; empty: the Host."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object a line, with the request id; text: for people."
    )
    photo_store: Literal["local", "s3"] = Field(
        "local", description="Where photos are kept: local (DATA_DIR/photos) or s3."
    )
    photo_bucket_endpoint_url: str = Field("", description="S3-compatible endpoint; empty: AWS S3.")
    photo_bucket: str = Field("", description="The photo bucket; required with PHOTO_STORE=s3.")
    photo_bucket_region: str = "us-east-1"
    photo_bucket_access_key_id: str = Field(
        "", description="Empty: botocore's own credential chain."
    )
    photo_bucket_secret_access_key: SecretStr = Field(SecretStr(""))
    photo_max_bytes: int = Field(
        20 * 1_048_576, ge=1024, description="Largest photo upload (camera HEIC/JPEG: 2-10 MB)."
    )
    photo_upload_url_seconds: int = Field(900, ge=30, description="Upload URL lifetime.")
    photo_url_seconds: int = Field(
        3600, ge=60, description="Least lifetime of a served photo URL (rounded up per hour)."
    )
    photo_processing_workers: int = Field(
        1, ge=0, le=64, description="Processes that make variants per server; 0: none here."
    )
    photo_max_attempts: int = Field(
        10, ge=1, description="Tries before a photo is failed (backoff: ~30 min in all)."
    )
    photo_lease_seconds: float = Field(
        120.0, gt=0, description="A claim on a photo lapses after this (a killed worker)."
    )
    vapid_private_key: SecretStr = Field(
        SecretStr(""), description="Web Push identity (PEM or raw base64url); generated if empty."
    )
    push_service_hosts: str = Field(
        "fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,"
        "web.push.apple.com,*.push.apple.com",
        description="Push services a subscription may point at: https hosts (*. for "
        "subdomains), or an exact origin such as http://127.0.0.1:8765 for a local one.",
    )
    vapid_subject: str = Field(
        "mailto:ops@example.com",
        pattern=r"^(mailto:|https://)\S+$",
        description="How push services reach the operator (VAPID sub): mailto: or https URL.",
    )
    push_senders: int = Field(
        1, ge=0, le=8, description="Push sender processes per instance (0: it sends none)."
    )
    push_concurrency: int = Field(32, ge=1, le=1000, description="Pushes in flight per sender.")
    push_max_attempts: int = Field(
        8, ge=1, description="Tries per push on 5xx or network errors before it fails."
    )
    push_timeout_seconds: float = Field(10.0, gt=0, description="One push request's limit.")
    push_retry_seconds: float = Field(
        5.0, gt=0, description="First retry after a 5xx or network error (doubling, to 10 min)."
    )
    push_poll_seconds: float = Field(
        0.25, gt=0, description="How often a sender looks for due pushes without a wake-up."
    )
    push_ttl_seconds: int = Field(
        86400, ge=0, le=2419200, description="How long a push service keeps a job push."
    )
    push_idle_days: int = Field(
        60, ge=1, description="Subscriptions silent this long are pruned (dead, never told)."
    )
    photo_visit_margin_minutes: int = Field(
        15, ge=0, description="Slack around a visit's check-in and check-out for photo times."
    )
    integration_rate_limit: str = Field(
        "1200 per minute", description="Requests one CRM API key may make (429 past it)."
    )
    password_link_base_url: str = Field(
        "",
        description="The app's public origin in links for the CRM (invites, resets, photos); "
        "empty: APP_ORIGIN, else the request's.",
    )
    invite_link_hours: int = Field(72, ge=1, le=720, description="An invite link's lifetime.")
    reset_link_minutes: int = Field(
        60, ge=5, le=1440, description="A forgotten-password link's lifetime."
    )
    webhook_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (http://127.0.0.1:9000) a webhook may use besides "
        "public https ones.",
    )
    webhook_senders: int = Field(
        1, ge=0, le=8, description="Webhook sender processes per instance (0: it sends none)."
    )
    webhook_concurrency: int = Field(
        16, ge=1, le=256, description="Webhook deliveries in flight per sender."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="One delivery's limit: slower is a failed try."
    )
    webhook_retry_seconds: float = Field(
        5.0, gt=0, description="First retry after a failed delivery (doubling, to 1 hour)."
    )
    webhook_poll_seconds: float = Field(
        0.25, gt=0, description="How often a sender looks for due deliveries without a wake-up."
    )
    webhook_disable_after_hours: float = Field(
        72.0, gt=0, description="An endpoint failing every delivery this long is disabled."
    )
    webhook_secret_overlap_hours: float = Field(
        24.0, ge=0, description="After a secret rotation, how long the old secret signs too."
    )
    late_start_minutes: int = Field(
        20,
        ge=1,
        le=720,
        description="An assigned job nobody set out for this long after its "
        "start raises a late_start alert.",
    )
    alert_poll_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="How often each worker's alert planner looks for late "
        "starts, and for changes without a wake-up.",
    )
    alert_planning: bool = Field(
        True, description="This instance's workers raise alerts (false: other instances do)."
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{self.data_dir / 'tinedy.sqlite3'}"
            )
        if not self.secret_key:
            object.__setattr__(self, "secret_key", load_or_create_secret(self.data_dir))
        return self

    @field_validator(
        "login_failures_per_account",
        "login_failures_per_address",
        "login_failures_account_ceiling",
        "rate_limit_reads",
        "rate_limit_sync",
        "rate_limit_uploads",
        "rate_limit_dispatch",
        "rate_limit_writes",
        "rate_limit_sign_in",
        "integration_rate_limit",
    )
    @classmethod
    def _a_rate(cls, value: str) -> str:
        """Refused at start-up: ``N per minute`` (limits' notation)."""
        parse_rate(value)
        return value

    @model_validator(mode="after")
    def _photo_bucket_named(self) -> Settings:
        """Refused at start-up, not at the first upload."""
        if self.photo_store == "s3" and not self.photo_bucket:
            raise ValueError("PHOTO_STORE=s3 needs PHOTO_BUCKET")
        return self

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def database_label(self) -> str:
        """The database URL without credentials, for messages and logs."""
        parts = urlsplit(self.database_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def push_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.push_service_hosts.split(",") if h.strip())

    @property
    def public_origin(self) -> str:
        """Where people reach the app, for links the CRM passes on ('' when not configured:
        a request's own origin is the next best)."""
        return (self.password_link_base_url or self.app_origin).rstrip("/")

    @property
    def webhook_origins(self) -> tuple[str, ...]:
        origins = self.webhook_allowed_origins.split(",")
        return tuple(o.strip().rstrip("/").lower() for o in origins if o.strip())

    @property
    def photos_dir(self) -> Path:
        """The local photo store's root (PHOTO_STORE=local)."""
        return self.data_dir / "photos"

    @property
    def metrics_dir(self) -> Path | None:
        """Where ``run``'s processes pool their metrics (HTTP workers, and the photo, push and
        webhook processes, which count their results); None with one process alone."""
        senders = self.photo_processing_workers + self.push_senders + self.webhook_senders
        return self.data_dir / "metrics" if self.workers > 1 or senders else None


def load_or_create_secret(data_dir: Path) -> str:
    """A per-installation secret kept outside the repository (``var/`` is ignored)."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    return create_private_file(path, secrets.token_urlsafe(48)).strip()
