"""The app factory: the one way in. It wires; the modules it wires do the work."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

from sanic import Sanic
from sanic.config import Config

from server.alerts.endpoints import alert_routes
from server.alerts.planner import AlertPlanner
from server.audit.endpoints import audit_routes
from server.auth.endpoints import auth_routes
from server.auth.offline_keys import OfflineKeys
from server.auth.passwords import configure_pool
from server.auth.throttle import LoginThrottle
from server.auth.tokens import TokenSigner
from server.changes.listen import ChangeNotifications
from server.changes.service import ChangeMirror
from server.checkins.endpoints import check_in_routes
from server.config import Settings
from server.context import AppContext
from server.core.background import keep_running
from server.core.metrics import flush_request_counts
from server.core.schedule import Scheduler
from server.db.engine import bind_engine, close_engine, create_engine, open_engine
from server.dispatch.endpoints import dispatch_routes
from server.errors import MAX_HEADER_BYTES, handle_error
from server.http.body_limits import LimitedRequest, limits_of
from server.http.head import answer_head_like_get
from server.http.rate_limits import RateLimits
from server.http.representations import RepresentationCache
from server.http.request_log import configure_logging
from server.http.security_headers import secured, shell_policy
from server.integration.event_endpoints import event_routes
from server.integration.job_endpoints import integration_job_routes
from server.integration.keys import ApiKeyGate
from server.integration.people_endpoints import people_routes
from server.jobs.cursors import CursorCodec
from server.jobs.endpoints import job_routes
from server.jobs.service import job_summaries
from server.live.caps import StreamCaps
from server.live.endpoints import live_routes
from server.live.hub import LiveHub
from server.ops.endpoints import ops_routes
from server.ops.queries import SCHEDULED_RUNS
from server.ops.retention import retention_jobs
from server.ops.service import start_counters_at_zero
from server.photos.endpoints import photo_routes
from server.photos.links import PhotoLinks
from server.photos.storage.factory import bucket_origins, object_store_for
from server.photos.worker import COMMAND as PROCESS_PHOTOS
from server.privacy.endpoints import privacy_routes
from server.privacy_notice.endpoints import privacy_notice_routes
from server.push.endpoints import push_routes
from server.push.notification_endpoints import notification_routes
from server.push.vapid import load_vapid_keys
from server.push.worker import COMMAND as SEND_PUSHES
from server.pwa.endpoints import pwa_routes
from server.pwa.shell import AppShell
from server.sync.endpoints import sync_routes
from server.webhooks.endpoints import webhook_routes
from server.webhooks.worker import COMMAND as SEND_WEBHOOKS

GC_YOUNG_THRESHOLD = 20_000


def create_app(settings: Settings | None = None, name: str = "tinedy") -> Sanic[Config, Any]:
    settings = settings or Settings()
    app: Sanic[Config, Any] = Sanic(name, request_class=LimitedRequest)
    app.config.update(
        REQUEST_MAX_SIZE=settings.max_body_bytes,  # LimitedRequest raises it per route
        BODY_LIMITS=limits_of(settings),
        JSON_MAX_SIZE=settings.max_body_bytes,
        REQUEST_MAX_HEADER_SIZE=MAX_HEADER_BYTES,
        PROXIES_COUNT=settings.proxies_count,
        FALLBACK_ERROR_FORMAT="json",
        SHELL_POLICY=shell_policy(bucket_origins(settings)),
        ACCESS_LOG=False,
    )
    app.ctx.tinedy = build_context(settings)
    start_counters_at_zero(settings.push_hosts)  # as the process starts, before it serves
    configure_pool(settings.password_hash_threads, settings.password_hash_queue)
    app.blueprint(auth_routes)
    app.blueprint(job_routes)
    app.blueprint(check_in_routes)
    app.blueprint(photo_routes)
    app.blueprint(push_routes)
    app.blueprint(notification_routes)
    app.blueprint(sync_routes)
    app.blueprint(dispatch_routes)
    app.blueprint(alert_routes)
    app.blueprint(live_routes)
    app.blueprint(pwa_routes)
    app.blueprint(privacy_notice_routes)
    app.blueprint(people_routes)
    app.blueprint(integration_job_routes)
    app.blueprint(event_routes)
    app.blueprint(webhook_routes)
    app.blueprint(ops_routes)
    app.blueprint(audit_routes)
    app.blueprint(privacy_routes)
    answer_head_like_get(app)
    app.error_handler.add(Exception, secured(handle_error))
    app.main_process_ready(start_background_processes)
    app.before_server_start(start_worker)
    app.before_server_start(start_alert_planner)
    app.before_server_start(start_scheduler)
    app.before_server_stop(end_streams)
    app.before_server_stop(stop_alert_planner)
    app.before_server_stop(stop_scheduler)
    app.after_server_stop(stop_worker)
    return app


def logged_app(settings: Settings) -> Sanic[Config, Any]:
    """The app as the main process and each worker build it (a picklable factory), with every
    log line, Sanic's own included (it sets them up as the app is made), in ``LOG_FORMAT``."""
    app = create_app(settings)
    configure_logging(settings.log_level, settings.log_format)
    return app


def build_context(settings: Settings) -> AppContext:
    mirror = ChangeMirror(revocation_horizon=timedelta(seconds=settings.access_token_seconds + 60))
    hub = LiveHub(job_summaries, settings.live_queue_limit, mirror.is_revoked)
    mirror.add_listener(hub.publish)
    shell = AppShell.load(settings.app_shell_dir, settings.templates_dir)
    photo_store = object_store_for(settings)
    vapid = load_vapid_keys(settings.data_dir, settings.vapid_private_key.get_secret_value())
    rate_limits = RateLimits(settings)
    return AppContext(
        settings=settings,
        signer=TokenSigner(
            settings.secret_key, settings.access_token_seconds, settings.refresh_token_seconds
        ),
        cursors=CursorCodec(settings.secret_key),
        offline_keys=OfflineKeys(settings.secret_key),
        throttle=LoginThrottle(
            rate_limits.counters,
            settings.login_failures_per_account,
            settings.login_failures_per_address,
            settings.login_failures_account_ceiling,
        ),
        representations=RepresentationCache.from_url(settings.cache_url),
        mirror=mirror,
        hub=hub,
        shell=shell,
        photo_links=PhotoLinks(settings.secret_key, settings.photo_url_seconds),
        photo_store=photo_store,
        vapid=vapid,
        api_keys=ApiKeyGate(),
        rate_limits=rate_limits,
        stream_caps=StreamCaps(
            settings.live_streams_per_device,
            settings.live_streams_per_user,
            settings.live_heartbeat_seconds,
        ),
    )


def start_background_processes(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Photo processing, push and webhook sending run in processes of their own beside the
    HTTP workers (see ``core/background.py``); Sanic starts and stops their supervisors."""
    settings: Settings = app.ctx.tinedy.settings
    if settings.photo_processing_workers:
        app.manager.manage(
            "PhotoProcessor",
            keep_running,
            {"command": PROCESS_PHOTOS},
            workers=settings.photo_processing_workers,
        )
    if settings.push_senders:
        app.manager.manage(
            "PushSender", keep_running, {"command": SEND_PUSHES}, workers=settings.push_senders
        )
    if settings.webhook_senders:
        app.manager.manage(
            "WebhookSender",
            keep_running,
            {"command": SEND_WEBHOOKS},
            workers=settings.webhook_senders,
        )


async def start_worker(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Open the database (failing loudly), load the change mirror, then follow the log."""
    ctx: AppContext = app.ctx.tinedy
    ctx.engine = create_engine(ctx.settings)
    bind_engine(ctx.engine)
    await open_engine(ctx.engine, ctx.settings)
    await ctx.mirror.load()
    ctx.hub.last_id = ctx.mirror.last_id
    ctx.mirror.start(ctx.settings.change_poll_seconds)
    if ctx.settings.is_postgres:
        ctx.notifications = ChangeNotifications(ctx.settings.database_url, ctx.mirror.wake)
        ctx.notifications.start()
    # Everything loaded so far lives as long as the worker: keep the collector off it, which
    # shortens the pauses that otherwise show up as tail latency. A fan-out to thousands of
    # live streams allocates in bursts: collect the young generation less often.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    app.add_task(flush_request_counts(), name="request-metrics")


async def start_alert_planner(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Each worker of a running server raises alerts (ALERT_PLANNING); an app under test
    runs none unless the test starts one."""
    ctx: AppContext = app.ctx.tinedy
    if ctx.settings.alert_planning:
        ctx.alerts = AlertPlanner(ctx.settings)
        ctx.mirror.add_listener(ctx.alerts.heard)
        ctx.alerts.start()


async def start_scheduler(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Each worker of a running server looks for retention work that is due
    (RETENTION_SCHEDULE); whichever claims it first runs it. An app under test runs none
    unless the test starts one."""
    ctx: AppContext = app.ctx.tinedy
    if ctx.settings.retention_schedule:
        jobs = retention_jobs(ctx.settings, ctx.photo_store)
        ctx.scheduler = Scheduler(
            jobs, ledger=SCHEDULED_RUNS, every=ctx.settings.schedule_poll_seconds
        )
        ctx.scheduler.start()


async def stop_scheduler(app: Sanic[Config, Any], _loop: Any = None) -> None:
    ctx: AppContext = app.ctx.tinedy
    if ctx.scheduler is not None:
        await ctx.scheduler.stop()
        ctx.scheduler = None


async def stop_alert_planner(app: Sanic[Config, Any], _loop: Any = None) -> None:
    ctx: AppContext = app.ctx.tinedy
    if ctx.alerts is not None:
        await ctx.alerts.stop()
        ctx.alerts = None


async def end_streams(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Live streams would hold a graceful shutdown open: end them (clients resume elsewhere).
    The request metrics' last tally is handed over as their task ends."""
    ctx: AppContext = app.ctx.tinedy
    ctx.hub.end_all("shutting_down")
    await app.cancel_task("request-metrics", raise_exception=False)


async def stop_worker(app: Sanic[Config, Any], _loop: Any = None) -> None:
    """Close what start_worker opened, and hand what it froze back to the collector: an
    SQLite connection left in a reference cycle would otherwise keep its non-daemon thread,
    and so the process, alive at exit."""
    ctx: AppContext = app.ctx.tinedy
    gc.unfreeze()
    if ctx.notifications is not None:
        await ctx.notifications.stop()
    await ctx.photo_store.close()
    await ctx.mirror.stop()
    await ctx.representations.close()
    if ctx.engine is not None:
        await close_engine(ctx.engine)
